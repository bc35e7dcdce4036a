"""What an action is (:class:`ActionSpec`), what it is given (:class:`ActionContext`), and :func:`invoke`.

Actions run inside Temporal activities, never in workflow code, so they may do I/O.
"""

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pydantic
import pydantic_core
from pydantic import BaseModel

from engine.actions.errors import ActionError, ErrorCategory


@dataclass(frozen=True)
class ActionContext:
    """Where an invocation runs and the few capabilities an action may use."""

    tenant: str
    run_id: str
    workflow_id: str
    step_path: str
    step_id: str
    attempt: int
    idempotency_key: str | None
    db: asyncpg.Pool | asyncpg.Connection | None
    """For actions that write rows (``notify.outbox``); ``None`` in pure tests."""
    log: Callable[[str, str], Awaitable[None]]
    """``log(level, message)`` records a log line on the run."""
    http_allowed_hosts: frozenset[str]
    """Exact host names / IP addresses that ``http.request`` may call."""
    invocation_id: int | None = None
    """The ledger row of this invocation (stable across redeliveries and retries); ``None`` outside the ledger."""


@dataclass(frozen=True)
class ActionSpec:
    """One version of one action: its models and the coroutine that does the work.

    ``handler(ctx, input)`` receives an instance of ``input_model`` and must return an instance of
    ``output_model``; it signals failures by raising :class:`ActionError`.

    ``pure`` says whether running the action again has no effect outside the run (the replay preview
    counts only the others): ``True``, ``False``, or a function of the resolved input for actions whose
    effect depends on it (``http.request``: by method). Plugins that do not say are taken to have side
    effects, because a preview that undercounts is worse than one that overcounts.
    """

    name: str
    version: int
    description: str
    input_model: type[BaseModel]
    output_model: type[BaseModel]
    handler: Callable[[ActionContext, Any], Awaitable[BaseModel]]
    pure: bool | Callable[[Mapping[str, Any]], bool] = False

    def __post_init__(self) -> None:
        # Checked here so a malformed plugin fails when it is loaded, not on its first call.
        if not self.name or self.name.strip() != self.name:
            raise ValueError(f"action name must be non-empty without surrounding spaces, got {self.name!r}")
        if self.version < 1:
            raise ValueError(f"action {self.name} must have a version >= 1, got {self.version}")

    @property
    def label(self) -> str:
        """``name vN``, as shown in messages."""
        return f"{self.name} v{self.version}"

    def is_pure(self, resolved_input: Any) -> bool:
        """Whether a call with ``resolved_input`` has no side effect; an input it cannot judge counts as impure."""
        if isinstance(self.pure, bool):
            return self.pure
        if not isinstance(resolved_input, Mapping):
            return False
        try:
            return bool(self.pure(resolved_input))
        except Exception:
            # A plugin's judgement that breaks must not break the preview: assume the worst.
            return False


async def invoke(spec: ActionSpec, ctx: ActionContext, raw_input: dict[str, Any]) -> dict[str, Any]:
    """Validate ``raw_input``, run the action and return its output as a JSON-native dict.

    Every failure leaves as an :class:`ActionError`: invalid input is ``ValidationError``; timeouts
    (httpx or asyncio) are ``TimeoutError``; connection failures are ``NetworkError``; anything else
    unexpected, including an output that does not match ``output_model``, is ``Internal``.
    Cancellation (``asyncio.CancelledError``) is not an ``Exception`` and passes through untouched.
    """
    parsed = _validate_input(spec, raw_input)
    try:
        result = await spec.handler(ctx, parsed)
    except ActionError:
        raise
    except Exception as exc:
        raise _classify(spec, exc) from exc
    return _dump_output(spec, result)


def _validate_input(spec: ActionSpec, raw_input: dict[str, Any]) -> BaseModel:
    try:
        return spec.input_model.model_validate(raw_input)
    except pydantic.ValidationError as exc:
        # include_input=False: inputs may hold secrets and error details end up in the read-model.
        problems = [
            {"path": _format_loc(err["loc"]), "message": err["msg"]}
            for err in exc.errors(include_url=False, include_input=False)
        ]
        listing = "; ".join(f"{p['path']}: {p['message']}" for p in problems)
        raise ActionError(
            ErrorCategory.VALIDATION,
            f"invalid input for {spec.label}: {listing}",
            {"errors": problems},
        ) from None


def _format_loc(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(input)"


def _classify(spec: ActionSpec, exc: Exception) -> ActionError:
    detail = f"{type(exc).__name__}: {exc}"
    # httpx.TimeoutException is a RequestError, so it must be checked first.
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return ActionError(ErrorCategory.TIMEOUT, f"{spec.label} timed out: {detail}")
    if isinstance(exc, httpx.RequestError | ConnectionError):
        return ActionError(ErrorCategory.NETWORK, f"{spec.label} could not connect: {detail}")
    return ActionError(ErrorCategory.INTERNAL, f"{spec.label} failed unexpectedly: {detail}")


def _dump_output(spec: ActionSpec, result: object) -> dict[str, Any]:
    if not isinstance(result, spec.output_model):
        raise ActionError(
            ErrorCategory.INTERNAL,
            f"{spec.label} returned {type(result).__name__}, expected {spec.output_model.__name__}",
        )
    try:
        return result.model_dump(mode="json", by_alias=True)
    except pydantic_core.PydanticSerializationError as exc:
        raise ActionError(ErrorCategory.INTERNAL, f"{spec.label} returned output that is not JSON: {exc}") from exc
