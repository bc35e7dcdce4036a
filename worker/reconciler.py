"""Runs the reconciler every ``interval`` until stopped; a failing pass is logged and retried next time.

Each pass first delivers human decisions that never reached their run, then brings open runs in line
with Temporal, then makes Temporal's Schedules match the published definitions (every tenant).
"""

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

import asyncpg
from temporalio.client import Client

from engine.services.reconcile import reconcile_once, redeliver_completions
from engine.services.schedule_reconcile import reconcile_schedules

log = logging.getLogger("runstudio.reconciler")

INTERVAL = timedelta(seconds=30)


async def run_reconciler(
    pool: asyncpg.Pool, client: Client, stop: asyncio.Event, *, interval: timedelta = INTERVAL
) -> None:
    """Deliver pending task completions, reconcile open runs and schedules with Temporal, every ``interval``."""
    while not stop.is_set():
        # Separate guards: a failure of one job must not starve the other.
        try:
            await redeliver_completions(pool, client, now=datetime.now(UTC))
        except Exception:
            log.exception("task completion delivery failed; retrying in %s s", interval.total_seconds())
        try:
            await reconcile_once(pool, client, now=datetime.now(UTC))
        except Exception:
            log.exception("reconciler pass failed; retrying in %s s", interval.total_seconds())
        try:
            changed = await reconcile_schedules(pool, client)
            if changed.created or changed.updated or changed.deleted:
                log.info(
                    "schedules reconciled: created %s, updated %s, deleted %s",
                    changed.created,
                    changed.updated,
                    changed.deleted,
                )
        except Exception:
            log.exception("schedule reconciliation failed; retrying in %s s", interval.total_seconds())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval.total_seconds())
