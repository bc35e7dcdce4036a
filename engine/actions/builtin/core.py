"""The ``core.*`` actions: ``core.echo``, ``core.log`` and ``core.fail`` (all version 1)."""

from typing import Literal, NoReturn

from pydantic import BaseModel, ConfigDict, Field

from engine.actions.base import ActionContext, ActionSpec
from engine.actions.errors import ActionError, ErrorCategory


class EchoInput(BaseModel):
    """Any JSON object."""

    model_config = ConfigDict(extra="allow")


class EchoOutput(BaseModel):
    """The input object, unchanged."""

    model_config = ConfigDict(extra="allow")


async def _echo(ctx: ActionContext, data: EchoInput) -> EchoOutput:
    return EchoOutput.model_validate(data.model_dump())


ECHO = ActionSpec(
    name="core.echo",
    version=1,
    description="Return the input object unchanged.",
    input_model=EchoInput,
    output_model=EchoOutput,
    handler=_echo,
    pure=True,
)


LogLevel = Literal["debug", "info", "warning", "error"]


class LogInput(BaseModel):
    """A message and its level."""

    model_config = ConfigDict(extra="forbid")

    message: str
    level: LogLevel = "info"


class LogOutput(BaseModel):
    """Always ``{"logged": true}``."""

    logged: bool


async def _log(ctx: ActionContext, data: LogInput) -> LogOutput:
    await ctx.log(data.level, data.message)
    return LogOutput(logged=True)


LOG = ActionSpec(
    name="core.log",
    version=1,
    description="Record a log line on the run.",
    input_model=LogInput,
    output_model=LogOutput,
    handler=_log,
    # A log line belongs to the run doing the call: repeating it touches nothing outside that run.
    pure=True,
)


class FailInput(BaseModel):
    """The category and message of the error to raise."""

    model_config = ConfigDict(extra="forbid")

    # Any category is accepted, not only ErrorCategory, so drills can exercise custom retryOn lists.
    category: str = Field(default=ErrorCategory.ACTION.value, min_length=1)
    message: str


class FailOutput(BaseModel):
    """Never produced: ``core.fail`` always raises."""


async def _fail(ctx: ActionContext, data: FailInput) -> NoReturn:
    raise ActionError(data.category, data.message)


FAIL = ActionSpec(
    name="core.fail",
    version=1,
    description="Always fail with the given error category and message (for tests and drills).",
    input_model=FailInput,
    output_model=FailOutput,
    handler=_fail,
    pure=True,
)
