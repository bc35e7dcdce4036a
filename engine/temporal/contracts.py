"""Inputs and outputs crossing the workflow/activity boundary, and the activity names.

Kept apart from the activity implementations so the workflow module imports no database code.
"""

from datetime import datetime
from typing import Any, Final, Literal

import pydantic_core
from pydantic import BaseModel, Field

from engine.interpreter.effects import ActionFailed, ActionSucceeded, RunAction, StepRecord
from engine.interpreter.state import InterpreterState
from engine.run_status import RunStatus as RunStatus  # defined apart so that listing runs skips this module

LOAD_RUN: Final = "load_run"
PROJECT: Final = "project"
RUN_ACTION: Final = "run_action"
CREATE_CHILD_RUN: Final = "create_child_run"
FAIL_RUN: Final = "fail_run"
LAUNCH_SCHEDULED_RUN: Final = "launch_scheduled_run"


def ensure_transportable(value: Any) -> None:
    """Raise ``ValueError`` unless ``value`` survives the data converter's encoding *and* decoding.

    The converter writes deeper JSON (about 254 levels) than it reads back (about 198), so a value can
    leave one side and never arrive on the other; encoding and decoding here tells it before it is sent.
    """
    try:
        pydantic_core.from_json(pydantic_core.to_json(value))
    except (ValueError, RecursionError) as exc:  # PydanticSerializationError is a ValueError
        raise ValueError(f"the value cannot cross the Temporal boundary: {exc}") from exc


class ScheduledLaunch(BaseModel):
    """Launcher mode: a Temporal Schedule's action, which starts one run of ``workflow_id`` v``version``.

    ``cron`` and ``timezone`` repeat the trigger the schedule was made from: Temporal turns a cron into
    calendar ranges, and this is where ``runstudio schedules`` reads it back as authored.
    """

    workflow_id: str
    version: int
    schedule_id: str
    cron: str
    timezone: str | None = None


class LoadedRun(BaseModel):
    """The run's pinned definition (hash already checked) and its unredacted input."""

    workflow_id: str
    workflow_version: int
    definition: dict[str, Any]
    payload: dict[str, Any]


class RunInput(BaseModel):
    """The workflow's argument: which run to execute, and where to resume after continue-as-new."""

    tenant: str
    run_id: str
    """Empty in launcher mode: the run id is derived when the launch happens."""
    checkpoint: InterpreterState | None = None
    depth: int = 0
    """How many ``control.callWorkflow`` levels lie above this run (0 for a root; absent in old histories)."""
    scheduled: ScheduledLaunch | None = None
    """Set only by a schedule's action: launch a run instead of executing one (absent in old histories)."""
    loaded: LoadedRun | None = None
    """What the ``load_run`` local activity would return, handed over by whoever starts the run (the launcher,
    a parent, continue-as-new): the workflow then skips that activity and notes its Temporal run id with its
    first projection instead. Absent in old histories (and when the starter could not vouch for the pinned
    definition's hash), so those runs load as they always did. Encrypted by the codec like every payload."""


class LaunchScheduledRequest(BaseModel):
    """Start the run a schedule's action stands for, once, whatever the retries."""

    tenant: str
    launch: ScheduledLaunch
    launcher_workflow_id: str
    """The launcher's Temporal workflow id (unique per action): the run id is derived from it."""
    nominal_time: datetime | None
    """When the schedule meant the action to happen (``TemporalScheduledStartTime``), before jitter."""


class RunResult(BaseModel):
    """What a finished run returns (and what a parent's ``outputMapping`` reads)."""

    status: Literal["SUCCEEDED"]
    payload: dict[str, Any]
    vars: dict[str, Any]
    output: Any = None


class LoadRunRequest(BaseModel):
    tenant: str
    run_id: str
    temporal_run_id: str
    first_execution: bool = True
    """False after continue-as-new: the run is resuming, not starting."""


class NonMatch(BaseModel):
    """An event delivered to an event wait that did not satisfy it: which condition failed."""

    event_id: str
    reason: str
    """E.g. ``amount > 100 was 50``."""
    at: datetime


class WaitRecord(BaseModel):
    """One wait as the read-model shows it; keyed by the step's seq."""

    seq: int
    step_path: str
    wait_type: Literal["time", "event", "human"]
    status: Literal["WAITING", "RESOLVED", "TIMED_OUT", "CANCELED"]
    event_name: str | None = None
    correlation_key: str | None = None
    filters: list[dict[str, Any]] | None = None
    timeout_at: datetime | None = None
    payload: Any = None
    resolved_at: datetime | None = None
    matched_event_id: str | None = None
    """The event that resolved an event wait."""
    non_match: NonMatch | None = None
    """The latest event that reached the wait but did not satisfy it, and why."""


class TaskRecord(BaseModel):
    """A human task row: created OPEN, then completed, timed out or canceled."""

    task_id: str
    seq: int
    step_path: str
    status: Literal["OPEN", "COMPLETED", "CANCELED", "TIMED_OUT"]
    task_type: str = ""
    title: str = ""
    description: str | None = None
    form_schema: dict[str, Any] = Field(default_factory=dict)
    context_data: Any = None
    timeout_at: datetime | None = None
    response: Any = None
    completed_by: str | None = None
    completed_at: datetime | None = None


class RunPatch(BaseModel):
    """Changes to the run row; ``None`` fields are left as they are."""

    status: RunStatus | None = None
    vars: dict[str, Any] | None = None
    output: Any = None
    error: dict[str, Any] | None = None
    current_step_path: str | None = None
    step_count: int | None = None
    completed_at: datetime | None = None


class ExecutionNote(BaseModel):
    """Which Temporal run executes a run now, written with the first projection of an execution that was
    started with its :class:`LoadedRun` (and so never called ``load_run``, which used to record it)."""

    temporal_run_id: str
    first_execution: bool = True
    """False after continue-as-new: the run is resuming, not starting (the started-runs counter)."""


class Projection(BaseModel):
    """Everything the read-model must learn in one transaction."""

    tenant: str
    run_id: str
    steps: list[StepRecord] = Field(default_factory=list)
    waits: list[WaitRecord] = Field(default_factory=list)
    tasks: list[TaskRecord] = Field(default_factory=list)
    run: RunPatch | None = None
    execution: ExecutionNote | None = None
    """Set on an execution's first projection when it skipped ``load_run`` (absent in old histories)."""

    def is_empty(self) -> bool:
        """True when there is nothing to write."""
        return not (self.steps or self.waits or self.tasks or self.run or self.execution)


class ActionRequest(BaseModel):
    """Run one action attempt, after writing the projection that precedes it."""

    tenant: str
    run_id: str
    workflow_id: str
    action: RunAction
    projection: Projection


ActionOutcome = ActionSucceeded | ActionFailed


class ChildRunRequest(BaseModel):
    """Create the row of a child run (idempotent on ``child_run_id``)."""

    tenant: str
    parent_run_id: str
    child_run_id: str
    workflow_id: str
    workflow_version: int | None
    payload: dict[str, Any]
    step_path: str


class ChildRun(BaseModel):
    """The child run as created; ``error`` is set when it could not be created (e.g. no such workflow)."""

    run_id: str
    workflow_version: int | None = None
    error: str | None = None
    loaded: LoadedRun | None = None
    """The child's definition and input, handed to its start so it skips ``load_run`` (absent in old histories)."""


class FailRunRequest(BaseModel):
    """The last-resort projection: the run row FAILED with ``error``, its open waits and tasks CANCELED."""

    tenant: str
    run_id: str
    error: dict[str, Any]
    completed_at: datetime
    execution: ExecutionNote | None = None
    """The Temporal run id not yet recorded (the run failed before its first projection; absent in old histories)."""


class EventSignal(BaseModel):
    """An event delivered to a waiting run; the workflow decides whether its wait matches."""

    event_id: str
    event_name: str
    correlation_key: str | None
    payload: Any


class TaskCompletion(BaseModel):
    """A human task's response, already validated against its form schema."""

    task_id: str
    response: Any
    completed_by: str
