"""What the studio says when a call fails: the one-line outage sentence when a service is down, else the error."""

from engine.errors import RunStudioError, ServiceUnavailableError
from engine.services.context import unavailable_error
from engine.stack import Endpoints


def failure_text(exc: BaseException, endpoints: Endpoints | None = None) -> str:
    """``Postgres at … is unreachable: …`` (with the ``runstudio doctor`` hint) for an outage, never a raw
    ``[Errno 2]``; a ``RunStudioError``'s own message; otherwise the exception's type and message."""
    outage = unavailable_error(exc, endpoints) if endpoints is not None else None
    if outage is None and isinstance(exc, ServiceUnavailableError):
        outage = exc
    if outage is not None or isinstance(exc, RunStudioError):
        return str(outage or exc)
    return f"{type(exc).__name__}: {exc}"
