"""Runs the reconciler every ``interval`` until stopped; a failing pass is logged and retried next time."""

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

import asyncpg
from temporalio.client import Client

from engine.services.reconcile import reconcile_once

log = logging.getLogger("runstudio.reconciler")

INTERVAL = timedelta(seconds=30)


async def run_reconciler(
    pool: asyncpg.Pool, client: Client, stop: asyncio.Event, *, interval: timedelta = INTERVAL
) -> None:
    """Reconcile open runs with Temporal periodically until ``stop`` is set."""
    while not stop.is_set():
        try:
            await reconcile_once(pool, client, now=datetime.now(UTC))
        except Exception:
            log.exception("reconciler pass failed; retrying in %s s", interval.total_seconds())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval.total_seconds())
