"""What the interpreter asks its driver to do (effects) and what the driver reports back (outcomes).

The interpreter never performs I/O: the Temporal workflow turns each effect into an activity, a timer,
a signal wait or a child workflow, and feeds the outcome back. Everything here is JSON-serialisable.
"""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class StepRecord(_Model):
    """One step attempt as the read-model shows it; the last record for (seq, attempt) wins."""

    seq: int
    attempt: int
    path: str
    step_id: str
    step_type: str
    iteration: str | None = None
    status: Literal["STARTED", "SUCCEEDED", "FAILED", "CANCELED"]
    started_at: datetime
    completed_at: datetime | None = None
    error: dict[str, Any] | None = None


class RunAction(_Model):
    """Invoke an action once (one attempt) through the idempotency ledger."""

    kind: Literal["action"] = "action"
    seq: int
    attempt: int
    path: str
    step_id: str
    action: str
    version: int
    input: dict[str, Any]
    idempotency_key: str


class Sleep(_Model):
    """Wait on the workflow clock: a ``time.wait`` (projected as a wait) or a retry backoff (not)."""

    kind: Literal["sleep"] = "sleep"
    seq: int
    path: str
    duration_ms: int
    is_wait: bool


class WaitEvent(_Model):
    """Wait for a matching event signal, or time out."""

    kind: Literal["event"] = "event"
    seq: int
    path: str
    event_name: str
    correlation_key: str | None
    filters: list[dict[str, Any]]
    timeout_ms: int | None


class HumanTask(_Model):
    """Create a human task and wait for its completion signal, or time out."""

    kind: Literal["human"] = "human"
    seq: int
    path: str
    task_type: str
    title: str
    description: str | None
    form_schema: dict[str, Any]
    context_data: Any
    timeout_ms: int | None


class StartChild(_Model):
    """Run another workflow as a Temporal child with its own run row."""

    kind: Literal["child"] = "child"
    seq: int
    path: str
    workflow_id: str
    workflow_version: int | None
    payload: dict[str, Any]


class Finished(_Model):
    """The run is over."""

    kind: Literal["finished"] = "finished"
    status: Literal["SUCCEEDED", "FAILED"]
    vars: dict[str, Any]
    output: Any = None
    error: dict[str, Any] | None = None


class Checkpoint(_Model):
    """Enough steps have run: the driver should persist the state and continue as new."""

    kind: Literal["checkpoint"] = "checkpoint"


Effect = RunAction | Sleep | WaitEvent | HumanTask | StartChild | Finished | Checkpoint


class ActionSucceeded(_Model):
    kind: Literal["action_ok"] = "action_ok"
    output: Any


class ActionFailed(_Model):
    kind: Literal["action_failed"] = "action_failed"
    category: str
    message: str
    details: dict[str, Any] | None = None


class TimerFired(_Model):
    kind: Literal["timer"] = "timer"


class WaitResolved(_Model):
    """An event arrived (its payload) or a task was completed (its response)."""

    kind: Literal["resolved"] = "resolved"
    value: Any


class WaitTimedOut(_Model):
    kind: Literal["timed_out"] = "timed_out"


class ChildSucceeded(_Model):
    kind: Literal["child_ok"] = "child_ok"
    result: dict[str, Any]


class ChildFailed(_Model):
    kind: Literal["child_failed"] = "child_failed"
    category: str
    message: str


Outcome = ActionSucceeded | ActionFailed | TimerFired | WaitResolved | WaitTimedOut | ChildSucceeded | ChildFailed
