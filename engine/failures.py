"""One classification of what goes wrong inside an activity: a fault that heals, or one that never will.

Temporal retries a failing activity with backoff, which is right while Postgres restarts or a
connection drops, and wrong when the run carries a value Postgres or the converter cannot hold (a NUL,
a payload nested too deep, a NULL into a NOT NULL column): retried forever, such a run would sit
RUNNING for good. So every activity passes its exceptions through :func:`guard`, which leaves transient
faults as they are (Temporal retries them) and turns deterministic ones into a non-retryable
``ApplicationError`` of a category (``ProjectionError``, ``LoadError``, …) with a sanitised, bounded
reason; the workflow then ends the run FAILED with that category and reason.

Pure: no I/O, only exception inspection, so it is unit-tested without services.
"""

import contextlib
import re
from collections.abc import Awaitable, Callable, Iterator
from functools import wraps
from typing import Final, ParamSpec, TypeVar

import asyncpg
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

PROJECTION_ERROR: Final = "ProjectionError"
"""Writing steps, waits, tasks or the run row was refused."""
LOAD_ERROR: Final = "LoadError"
"""The run or its definition could not be loaded or handed to the workflow."""
LEDGER_ERROR: Final = "LedgerError"
"""Recording an action invocation (or handing back its outcome) was refused."""
CHILD_START_ERROR: Final = "ChildStartError"
"""The child's run row could not be created."""
FAIL_RUN_ERROR: Final = "FailRunError"
"""Even the last-resort write of a failed run was refused."""

CATEGORIES: Final = frozenset({PROJECTION_ERROR, LOAD_ERROR, LEDGER_ERROR, CHILD_START_ERROR, FAIL_RUN_ERROR})
"""The categories :func:`guard` produces; the workflow ends a run FAILED on any of them."""

MAX_REASON: Final = 500
"""Characters of a reason kept: enough to read the cause, bounded so error_json stays small."""

# SQLSTATEs (or their two-character classes) that describe the server or the connection, not the data.
_TRANSIENT_SQLSTATES: Final = frozenset(
    {
        "57P01",  # admin_shutdown
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now: starting up, shutting down, in recovery
        "57P05",  # idle_session_timeout
        "57014",  # query_canceled: statement timeout
        "40001",  # serialization_failure
        "40P01",  # deadlock_detected
        "55P03",  # lock_not_available
        "25006",  # read_only_sql_transaction: a standby not yet promoted
    }
)
_TRANSIENT_SQLSTATE_CLASSES: Final = frozenset(
    {
        "08",  # connection exception
        "53",  # insufficient resources: too many connections, out of memory, disk full
        "58",  # system error (I/O) outside Postgres
    }
)
_TRANSIENT_RPC: Final = frozenset(
    {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.RESOURCE_EXHAUSTED}
)
# C0 controls (but tab and newline), DEL, C1 controls, lone surrogates and bidi overrides/isolates.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]")

P = ParamSpec("P")
R = TypeVar("R")


def is_transient(exc: BaseException) -> bool:
    """True when ``exc`` is a fault of the infrastructure that a later attempt can outlive."""
    if isinstance(exc, asyncpg.PostgresError):
        state = str(getattr(exc, "sqlstate", "") or "")
        return state in _TRANSIENT_SQLSTATES or state[:2] in _TRANSIENT_SQLSTATE_CLASSES
    if isinstance(exc, asyncpg.InterfaceError):
        # Connection closed, pool closing, cannot connect: transient. asyncpg's client-side DataError (an
        # argument it cannot encode) is also a ValueError: the data's fault.
        return not isinstance(exc, ValueError | asyncpg.exceptions.UnsupportedClientFeatureError)
    if isinstance(exc, RPCError):
        return exc.status in _TRANSIENT_RPC
    # OSError covers refused/reset connections, a missing Unix socket (FileNotFoundError) and timeouts.
    return isinstance(exc, OSError | ConnectionError | TimeoutError)


def sanitise(text: str, limit: int = MAX_REASON) -> str:
    """``text`` with control, bidi and lone-surrogate characters replaced and its length capped.

    The result is valid for a Postgres ``text``/``jsonb`` value and for any terminal.
    """
    clean = _UNSAFE.sub("\N{REPLACEMENT CHARACTER}", text)
    if len(clean) > limit:
        clean = clean[: limit - 1] + "\N{HORIZONTAL ELLIPSIS}"
    return clean


def describe(exc: BaseException) -> str:
    """A one-line, sanitised reason: the exception's type and message (with the SQLSTATE when Postgres spoke)."""
    message = str(exc) or repr(exc)
    state = getattr(exc, "sqlstate", None) if isinstance(exc, asyncpg.PostgresError) else None
    prefix = f"{type(exc).__name__} [{state}]" if state else type(exc).__name__
    return sanitise(f"{prefix}: {message}".replace("\n", " "))


def unhealable(exc: BaseException, category: str) -> ApplicationError:
    """The non-retryable ``ApplicationError`` of ``category`` that reports a deterministic ``exc``."""
    reason = describe(exc)
    return ApplicationError(reason, {"category": category, "message": reason}, type=category, non_retryable=True)


def classify(exc: Exception, category: str) -> Exception:
    """What to raise for ``exc``: itself when transient or already an ``ApplicationError``, else :func:`unhealable`."""
    if isinstance(exc, ApplicationError) or is_transient(exc):
        return exc
    return unhealable(exc, category)


@contextlib.contextmanager
def guard(category: str) -> Iterator[None]:
    """Re-raise deterministic failures of the block as non-retryable ``category`` errors; leave the rest.

    Nested guards keep the innermost category: an ``ApplicationError`` passes through untouched.
    Cancellation is not an ``Exception`` and is never touched.
    """
    try:
        yield
    except Exception as exc:
        converted = classify(exc, category)
        if converted is exc:
            raise
        raise converted from exc


def guarded(category: str) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Decorate an async activity so its deterministic failures end the run instead of retrying forever."""

    def decorate(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            with guard(category):
                return await fn(*args, **kwargs)

        return wrapper

    return decorate
