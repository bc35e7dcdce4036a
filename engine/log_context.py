"""Fields bound to every log line written while handling one run (read by the worker's JSON formatter)."""

import contextlib
import contextvars
from collections.abc import Iterator, Mapping
from types import MappingProxyType

# Immutable, so the shared default can never be changed in place.
CURRENT: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "runstudio_log_context", default=MappingProxyType({})
)


@contextlib.contextmanager
def log_context(**fields: str) -> Iterator[None]:
    """Bind fields (``run_id``, ``workflow_id``, …) to every log line written inside the block."""
    token = CURRENT.set({**CURRENT.get(), **fields})
    try:
        yield
    finally:
        CURRENT.reset(token)
