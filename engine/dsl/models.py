"""Pydantic models of a workflow definition and of every step type (SPEC §4).

The models check shape: types, required fields, per-field limits and unknown keys (``extra="forbid"``,
so a misspelt ``saveas`` is an error rather than silently ignored). Rules that relate fields, steps or
the outside world (unique ids, known actions, assignable paths, expressions, ...) live in
:mod:`engine.dsl.validate`, which runs them on the raw JSON so that every problem is reported at once.

Field names are snake_case in Python and the SPEC's camelCase in JSON (aliases); both are accepted on
input and dumps use the JSON names. Integers are strict: ``"3"`` or ``true`` is not a version. Models
are frozen and nested step lists are tuples.

Values that may be expressions (``{"$expr": "..."}``) are kept as raw JSON (``Any``) for
:func:`engine.expressions.resolve`: action ``input`` and ``idempotencyKey``, ``assign`` values,
``condition``, ``items``, ``inputMapping``/``outputMapping`` values, ``output``, ``until``,
``correlationKey``, filter ``value``, and the human task's ``title``, ``description`` and
``contextData``; ``durationMs``/``timeoutMs`` are whole milliseconds or an expression. Everything
else is literal, because publishing checks it: ids, types, action names and versions, paths and
names (``saveAs``, ``assign``/``outputMapping`` keys, ``itemVar``, ``captureErrorAs``), retry and
error policies, ``workflowId``/``workflowVersion``, ``eventName``, ``taskType`` and ``formSchema``.
"""

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    SerializerFunctionWrapHandler,
    StrictInt,
    model_serializer,
)

from engine.expressions import is_expression

NonEmptyStr = Annotated[str, Field(min_length=1)]
PositiveInt = Annotated[StrictInt, Field(ge=1)]
NonNegativeInt = Annotated[StrictInt, Field(ge=0)]


def is_json_int(value: object) -> bool:
    """Whether ``value`` is a JSON integer (``True`` is an ``int`` in Python, not in JSON)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _millis_or_expression(value: Any) -> Any:
    if value is None or is_expression(value) or (is_json_int(value) and value >= 0):
        return value
    raise ValueError('must be a whole number of milliseconds >= 0 or an expression {"$expr": "..."}')


def _workflow_version(value: Any) -> int | Literal["latest"]:
    if value == "latest":
        return "latest"
    if is_json_int(value) and value >= 1:
        return int(value)
    raise ValueError('must be a version number >= 1 or "latest"')


MillisOrExpression = Annotated[Any, AfterValidator(_millis_or_expression)]
"""A duration in milliseconds, literal or computed; ``None`` means none."""


class _Model(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        populate_by_name=True,
        serialize_by_alias=True,
    )


class ManualTrigger(_Model):
    """Runs are started by people or the CLI."""

    type: Literal["manual"] = "manual"


class EventTrigger(_Model):
    """Every event with this name starts a run."""

    type: Literal["event"]
    event_name: NonEmptyStr = Field(alias="eventName")


MAX_JITTER_MS = 3_600_000
"""The longest random delay a schedule may add to each start (one hour)."""


class ScheduleTrigger(_Model):
    """Runs start on a cron schedule (a Temporal Schedule; see :mod:`engine.temporal.schedules`).

    The cron syntax, the time zone name and the ``startAt``/``endAt`` timestamps are checked at publish
    (:mod:`engine.dsl.validate`), not here: a definition published before those checks must still load.
    """

    type: Literal["schedule"]
    cron: NonEmptyStr
    timezone: NonEmptyStr | None = None
    """An IANA time zone name (``Europe/Paris``); the cron is read in UTC without one."""
    jitter_ms: Annotated[StrictInt, Field(ge=0, le=MAX_JITTER_MS)] = Field(0, alias="jitterMs")
    """Each start is delayed by a random 0…jitterMs, so many schedules on the same minute spread out."""
    start_at: NonEmptyStr | None = Field(None, alias="startAt")
    """ISO-8601 with an offset: no start before it."""
    end_at: NonEmptyStr | None = Field(None, alias="endAt")
    """ISO-8601 with an offset: no start after it."""

    @model_serializer(mode="wrap")
    def _as_authored(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Dump only what was given: a trigger written before these options existed dumps as it was written.
        dumped: dict[str, Any] = handler(self)
        given = {"type", "cron"} | self.model_fields_set
        names = {name: field.alias or name for name, field in type(self).model_fields.items()}
        return {key: value for key, value in dumped.items() if any(key in (n, names[n]) for n in given)}


Trigger = Annotated[ManualTrigger | EventTrigger | ScheduleTrigger, Field(discriminator="type")]


class RetryPolicy(_Model):
    """How an ``action.call`` is retried; the interpreter owns the backoff (on the workflow timer)."""

    max_attempts: PositiveInt = Field(1, alias="maxAttempts")
    backoff_ms: NonNegativeInt = Field(1000, alias="backoffMs")
    backoff_multiplier: float = Field(2.0, alias="backoffMultiplier", ge=1.0, strict=True)
    max_delay_ms: NonNegativeInt = Field(60_000, alias="maxDelayMs")
    retry_on: tuple[NonEmptyStr, ...] | None = Field(None, alias="retryOn")
    """Error categories to retry; ``None`` means every category except ``ValidationError``."""


class OnError(_Model):
    """What a failed ``action.call`` does once its retries are spent."""

    policy: Literal["fail", "continue"] = "fail"


class _Step(_Model):
    id: NonEmptyStr

    def branches(self) -> tuple[tuple[str, tuple["Step", ...]], ...]:
        """The nested step lists of this step, as ``(JSON field name, steps)``, in document order."""
        return ()


class ActionCallStep(_Step):
    """Invoke a registered action (in an activity) and optionally save its output."""

    type: Literal["action.call"]
    action: NonEmptyStr
    version: PositiveInt
    input: dict[str, Any] = Field(default_factory=dict)
    save_as: str | None = Field(None, alias="saveAs")
    idempotency_key: Any = Field(None, alias="idempotencyKey")
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    on_error: OnError = Field(default_factory=OnError, alias="onError")


class AssignStep(_Step):
    """Set ``vars`` paths to values or expression results."""

    type: Literal["state.assign"]
    assign: dict[str, Any]


class IfStep(_Step):
    """Run ``then`` when ``condition`` is truthy, otherwise ``else``."""

    type: Literal["control.if"]
    condition: Any
    then: tuple["Step", ...]
    else_: tuple["Step", ...] = Field((), alias="else")

    def branches(self) -> tuple[tuple[str, tuple["Step", ...]], ...]:
        """``then`` and ``else``."""
        return (("then", self.then), ("else", self.else_))


class ForEachStep(_Step):
    """Run ``body`` once per element of ``items``, one element at a time."""

    type: Literal["control.forEach"]
    items: Any
    item_var: NonEmptyStr = Field("item", alias="itemVar")
    body: tuple["Step", ...]
    on_item_error: Literal["fail", "continue"] = Field("fail", alias="onItemError")
    concurrency: StrictInt = 1
    """Only 1 is accepted at publish (parallel forEach is a non-goal of this version)."""

    def branches(self) -> tuple[tuple[str, tuple["Step", ...]], ...]:
        """``body``."""
        return (("body", self.body),)


class TryCatchStep(_Step):
    """Run ``try``; on a business failure run ``catch`` with the error in ``vars.<captureErrorAs>``."""

    type: Literal["control.tryCatch"]
    try_: tuple["Step", ...] = Field(alias="try")
    catch: tuple["Step", ...] = ()
    capture_error_as: str | None = Field(None, alias="captureErrorAs")
    """A name under ``vars`` (``"err"`` means ``vars.err``), not a path."""

    def branches(self) -> tuple[tuple[str, tuple["Step", ...]], ...]:
        """``try`` and ``catch``."""
        return (("try", self.try_), ("catch", self.catch))


class CallWorkflowStep(_Step):
    """Run another published workflow as a child and map its result back."""

    type: Literal["control.callWorkflow"]
    workflow_id: NonEmptyStr = Field(alias="workflowId")
    workflow_version: Annotated[int | Literal["latest"], PlainValidator(_workflow_version)] = Field(
        "latest", alias="workflowVersion"
    )
    input_mapping: dict[str, Any] = Field(default_factory=dict, alias="inputMapping")
    """Child payload key → value or expression over the parent's scope."""
    output_mapping: dict[str, Any] = Field(default_factory=dict, alias="outputMapping")
    """Parent ``vars.`` path → value or expression over the child's ``{payload, vars, output}``."""


class ReturnStep(_Step):
    """End the run successfully, optionally with an output."""

    type: Literal["control.return"]
    output: Any = None


class TimeWaitStep(_Step):
    """Sleep on a Temporal timer for ``durationMs`` or until the time ``until`` gives."""

    type: Literal["time.wait"]
    duration_ms: MillisOrExpression = Field(None, alias="durationMs")
    until: Any = None
    assign: dict[str, Any] = Field(default_factory=dict)


class EventFilter(_Model):
    """One condition an event's payload must meet for an ``event.wait`` to accept it."""

    path: NonEmptyStr
    op: Literal["=", "!=", ">", "<", "in", "exists"]
    value: Any = None


class EventWaitStep(_Step):
    """Wait for a matching event (a signal); its payload goes to ``saveAs``."""

    type: Literal["event.wait"]
    event_name: NonEmptyStr = Field(alias="eventName")
    correlation_key: Any = Field(alias="correlationKey")
    filters: tuple[EventFilter, ...] = ()
    timeout_ms: MillisOrExpression = Field(None, alias="timeoutMs")
    save_as: str | None = Field(None, alias="saveAs")


class HumanTaskStep(_Step):
    """Open a task for a person and wait for a response matching ``formSchema``."""

    type: Literal["human.task"]
    task_type: NonEmptyStr = Field(alias="taskType")
    title: Any
    description: Any = None
    form_schema: dict[str, Any] = Field(default_factory=dict, alias="formSchema")
    context_data: Any = Field(None, alias="contextData")
    timeout_ms: MillisOrExpression = Field(None, alias="timeoutMs")
    save_as: str | None = Field(None, alias="saveAs")


STEP_BRANCHES: Mapping[str, tuple[str, ...]] = {
    "control.if": ("then", "else"),
    "control.forEach": ("body",),
    "control.tryCatch": ("try", "catch"),
}
"""The JSON fields that hold nested step lists, by step type (what :meth:`branches` returns)."""

Step = Annotated[
    ActionCallStep
    | AssignStep
    | IfStep
    | ForEachStep
    | TryCatchStep
    | CallWorkflowStep
    | ReturnStep
    | TimeWaitStep
    | EventWaitStep
    | HumanTaskStep,
    Field(discriminator="type"),
]
"""Any step, chosen by its ``type``."""


class Definition(_Model):
    """A published workflow definition: metadata, the payload contract, the trigger and the steps."""

    id: NonEmptyStr
    version: PositiveInt
    name: NonEmptyStr
    description: str | None = None
    payload_schema: dict[str, Any] = Field(default_factory=dict, alias="payloadSchema")
    trigger: Trigger = Field(default_factory=ManualTrigger)
    redact: tuple[NonEmptyStr, ...] = ()
    """Payload paths hidden in every view, besides keys named like password/secret/token/apiKey."""
    steps: tuple[Step, ...]


# The step models refer to Step, which exists only now.
IfStep.model_rebuild()
ForEachStep.model_rebuild()
TryCatchStep.model_rebuild()
Definition.model_rebuild()
