"""The stack health the header shows, read from ``engine.services.doctor`` checks (no Textual here)."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # Annotations only: the doctor and the stuck diagnosis load the Temporal SDK, which the first paint of
    # the studio does without (the app imports them when its health check starts).
    from engine.services.doctor import Check
    from engine.services.health import WorkerPresence

_LEADING_COUNT = re.compile(r"^(\d+) ")


@dataclass(frozen=True)
class Health:
    """Database, Temporal and worker health; ``None`` means not known (not checked yet, or not checkable)."""

    database: bool | None = None
    temporal: bool | None = None
    workers: int | None = None
    """Workers polling the task queue; ``None`` while Temporal is unreachable."""
    workers_last_seen: datetime | None = None
    """When Temporal last saw any worker poll (shown when none polls now); ``None`` if it lists none."""
    stuck: int | None = None
    """Runs RUNNING with no step for over 60 s; ``None`` while the database is unreachable."""
    problem: str | None = None
    """Why the check itself could not run (shown instead of guessing)."""

    @property
    def checked(self) -> bool:
        """Whether a check has completed at least once."""
        return self.database is not None or self.problem is not None


def health_from_checks(checks: list[Check]) -> Health:
    """Fold ``doctor.run_checks`` results into what the header shows.

    The worker and stuck counts are only available in the checks' human-readable ``detail`` (``"2 polling
    workflow-runtime-v2"``, ``"3 run(s) RUNNING …"``); they are read from there until the services layer
    offers a structured health call, and are ``None`` when the text does not start with a count.
    """
    by_name = {check.name: check for check in checks}
    database = by_name.get("database")
    temporal = by_name.get("temporal")
    workers = by_name.get("workers")
    stuck = by_name.get("stuck runs")
    worker_count: int | None = None
    if temporal is not None and temporal.ok and workers is not None:
        if workers.ok:
            worker_count = _leading_count(workers.detail)
        elif workers.detail.startswith("no worker polls"):
            worker_count = 0
    stuck_count: int | None = None
    if database is not None and database.ok and stuck is not None:
        stuck_count = 0 if stuck.ok else _leading_count(stuck.detail)
    return Health(
        database=database.ok if database else None,
        temporal=temporal.ok if temporal else None,
        workers=worker_count,
        stuck=stuck_count,
    )


def _leading_count(detail: str) -> int | None:
    match = _LEADING_COUNT.match(detail)
    return int(match.group(1)) if match else None


def with_workers(health: Health, presence: WorkerPresence | None) -> Health:
    """``health`` with the worker count from the poller check (``None``: Temporal could not be asked)."""
    if presence is None:
        return replace(health, workers=None, workers_last_seen=None)
    return replace(health, workers=presence.polling, workers_last_seen=presence.last_seen)


def keep_workers(fresh: Health, current: Health) -> Health:
    """The slow full check's ``fresh`` result, keeping the worker count the faster poller check owns.

    The full check counts workers too, but up to ``HEALTH_SECONDS`` later; letting it overwrite the poller
    check's count would make the header flip back to a worker that died in between. While Temporal is down
    the full check's "unknown" wins.
    """
    if not fresh.temporal:
        return replace(fresh, workers_last_seen=None)
    if current.workers is None and current.workers_last_seen is None:
        return fresh
    return replace(fresh, workers=current.workers, workers_last_seen=current.workers_last_seen)
