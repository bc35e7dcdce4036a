"""The interpreter's serialisable state: a stack of frames, the run's vars and bookkeeping.

It is all the workflow needs to carry across continue-as-new; the definition itself is reloaded.
"""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from engine.interpreter.effects import Effect, Finished, StepRecord


class Frame(BaseModel):
    """One level of control flow.

    A ``block`` frame walks a list of steps (``path`` is the list's address, e.g. ``root.steps`` or
    ``root.steps[2].then``). ``if``, ``forEach`` and ``try`` frames belong to a container step (``path``
    is the step's address) and sit under the block frame of the branch they are running.
    """

    kind: Literal["block", "if", "forEach", "try"]
    path: str
    index: int = 0
    seq: int = 0
    started_at: datetime | None = None
    locals: dict[str, Any] = Field(default_factory=dict)
    items: list[Any] = Field(default_factory=list)
    phase: Literal["try", "catch"] = "try"


class PendingStep(BaseModel):
    """The step whose effect is out with the driver, awaiting an outcome."""

    seq: int
    attempt: int
    path: str
    step_id: str
    step_type: str
    iteration: str | None
    started_at: datetime
    effect: Effect
    emitted: bool = False
    backing_off: bool = False
    """Waiting out a retry backoff: this attempt already failed and the next one starts when the timer fires."""


class InterpreterState(BaseModel):
    """Everything about a run's progress that is not in its definition."""

    frames: list[Frame] = Field(default_factory=lambda: [Frame(kind="block", path="root.steps")])
    vars: dict[str, Any] = Field(default_factory=dict)
    next_seq: int = 1
    step_rows: int = 0
    steps_since_checkpoint: int = 0
    pending: PendingStep | None = None
    outbox: list[StepRecord] = Field(default_factory=list)
    vars_dirty: bool = False
    finished: Finished | None = None
