"""Helpers for action tests: a context with recorded log lines."""

from dataclasses import dataclass, field

from engine.actions.base import ActionContext


@dataclass
class LogRecorder:
    """Collects ``(level, message)`` pairs passed to ``ActionContext.log``."""

    lines: list[tuple[str, str]] = field(default_factory=list)

    async def __call__(self, level: str, message: str) -> None:
        self.lines.append((level, message))


def make_context(*, allowed_hosts: frozenset[str] = frozenset(), log: LogRecorder | None = None) -> ActionContext:
    """Return a database-less context for tenant ``t1``."""
    return ActionContext(
        tenant="t1",
        run_id="00000000-0000-0000-0000-000000000001",
        workflow_id="wf",
        step_path="root.steps[0]",
        step_id="s1",
        attempt=1,
        idempotency_key=None,
        db=None,
        log=log if log is not None else LogRecorder(),
        http_allowed_hosts=allowed_hosts,
    )
