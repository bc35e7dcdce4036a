"""The one classification of activity failures: transient (retried) or deterministic (ends the run)."""

import asyncio

import asyncpg
import asyncpg.exceptions as pg
import pydantic
import pydantic_core
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from engine import failures
from engine.temporal.contracts import ensure_transportable


def validation_error() -> pydantic.ValidationError:
    class Model(pydantic.BaseModel):
        n: int

    try:
        Model.model_validate({"n": "x"})
    except pydantic.ValidationError as exc:
        return exc
    raise AssertionError("validation passed")


def serialization_error() -> pydantic_core.PydanticSerializationError:
    value: dict[str, object] = {}
    for _ in range(300):
        value = {"n": value}
    try:
        pydantic_core.to_json(value)
    except pydantic_core.PydanticSerializationError as exc:
        return exc
    raise AssertionError("serialised")


TRANSIENT: list[BaseException] = [
    ConnectionRefusedError(111, "Connection refused"),
    ConnectionResetError(104, "Connection reset by peer"),
    FileNotFoundError(2, "No such file or directory"),  # the Unix socket of a stopped Postgres
    OSError(113, "No route to host"),
    TimeoutError(),
    pg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    asyncpg.InterfaceError("connection is closed"),
    pg.CannotConnectNowError("the database system is starting up"),
    pg.AdminShutdownError("terminating connection due to administrator command"),
    pg.SerializationError("could not serialize access"),
    pg.DeadlockDetectedError("deadlock detected"),
    pg.TooManyConnectionsError("sorry, too many clients already"),
    pg.QueryCanceledError("canceling statement due to statement timeout"),
    RPCError("unavailable", RPCStatusCode.UNAVAILABLE, b""),
    RPCError("deadline", RPCStatusCode.DEADLINE_EXCEEDED, b""),
]

DETERMINISTIC: list[BaseException] = [
    pg.NotNullViolationError('null value in column "context_data" violates not-null constraint'),
    pg.UniqueViolationError("duplicate key"),
    pg.UntranslatableCharacterError("unsupported Unicode escape sequence"),
    pg.InvalidTextRepresentationError("invalid input syntax for type uuid"),
    pg.ProgramLimitExceededError("index row size exceeds btree maximum"),
    pg.UndefinedColumnError("column does not exist"),
    asyncpg.DataError("invalid input for query argument $1"),  # client side: cannot encode the value
    validation_error(),
    serialization_error(),
    RecursionError("maximum recursion depth exceeded"),
    ValueError("bad"),
    TypeError("bad"),
    KeyError("bad"),
    UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"),
    RPCError("invalid", RPCStatusCode.INVALID_ARGUMENT, b""),
    RuntimeError("a bug"),
]


@pytest.mark.parametrize("exc", TRANSIENT, ids=lambda e: type(e).__name__)
def test_transient_faults_are_left_for_temporal_to_retry(exc: Exception) -> None:
    assert failures.is_transient(exc)
    assert failures.classify(exc, failures.PROJECTION_ERROR) is exc


@pytest.mark.parametrize("exc", DETERMINISTIC, ids=lambda e: type(e).__name__)
def test_deterministic_faults_become_non_retryable_errors_of_the_category(exc: Exception) -> None:
    assert not failures.is_transient(exc)
    converted = failures.classify(exc, failures.PROJECTION_ERROR)
    assert isinstance(converted, ApplicationError)
    assert converted.type == "ProjectionError"
    assert converted.non_retryable
    assert converted.message.startswith(type(exc).__name__)
    assert converted.details == ({"category": "ProjectionError", "message": converted.message},)


def test_an_application_error_passes_through_with_its_own_category() -> None:
    exc = ApplicationError("pinned definition changed", type="DefinitionMismatch", non_retryable=True)
    assert failures.classify(exc, failures.LOAD_ERROR) is exc


def test_the_reason_names_the_sqlstate_and_holds_no_control_characters() -> None:
    exc = pg.UntranslatableCharacterError("unsupported \x00 escape\nDETAIL: \\u0000 \u202e\ud800")
    reason = failures.describe(exc)
    assert reason.startswith("UntranslatableCharacterError [22P05]: unsupported")
    assert "\x00" not in reason and "\n" not in reason and "\u202e" not in reason and "\ud800" not in reason
    reason.encode("utf-8")  # no lone surrogate left


def test_the_reason_is_bounded() -> None:
    reason = failures.sanitise("x" * 10_000)
    assert len(reason) == failures.MAX_REASON
    assert reason.endswith("\N{HORIZONTAL ELLIPSIS}")
    assert failures.sanitise("tab\tstays") == "tab\tstays"


async def test_guarded_converts_deterministic_failures_and_leaves_transient_ones() -> None:
    @failures.guarded(failures.LOAD_ERROR)
    async def activity(exc: Exception) -> None:
        raise exc

    with pytest.raises(ApplicationError) as caught:
        await activity(ValueError("bad"))
    assert caught.value.type == "LoadError"
    assert isinstance(caught.value.__cause__, ValueError)
    with pytest.raises(ConnectionResetError):
        await activity(ConnectionResetError())


def test_nested_guards_keep_the_innermost_category() -> None:
    with (
        pytest.raises(ApplicationError) as caught,
        failures.guard(failures.LEDGER_ERROR),
        failures.guard(failures.PROJECTION_ERROR),
    ):
        raise pg.NotNullViolationError("null value")
    assert caught.value.type == "ProjectionError"


def test_cancellation_is_never_converted() -> None:
    with pytest.raises(asyncio.CancelledError), failures.guard(failures.PROJECTION_ERROR):
        raise asyncio.CancelledError


@pytest.mark.parametrize("depth", [201, 300])
def test_a_value_the_converter_cannot_carry_is_refused_before_it_is_sent(depth: int) -> None:
    value: dict[str, object] = {}
    for _ in range(depth):  # 201 encodes but does not decode; 300 does not even encode
        value = {"n": value}
    with pytest.raises(ValueError, match="cannot cross the Temporal boundary"):
        ensure_transportable(value)
    ensure_transportable({"fine": [1, 2, {"x": None}]})
