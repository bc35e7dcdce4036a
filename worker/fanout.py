"""The event delivery loop: signals the events ``submit_event(queue=True)`` committed as ``pending``.

It wakes on ``NOTIFY workflow_event_delivery`` (sent in the transaction that queues an event, so it
arrives at commit) and also polls every ``poll_interval`` seconds, so a notification missed while the
listening connection was down never strands an event. Any number of workers may run it: events are
claimed ``FOR UPDATE SKIP LOCKED``. Delivery itself (bounded, retried, once per run) is
:func:`engine.services.delivery.deliver_pending_batch`.
"""

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

import asyncpg
from temporalio.client import Client

from engine.keyring import Keyring
from engine.services.delivery import deliver_pending_batch
from engine.store.events import DELIVERY_CHANNEL
from worker.inbox import run_notified

log = logging.getLogger("runstudio.fanout")

BATCH_SIZE = 10
"""Events delivered per pass; each holds its row lock only while its own signals are sent."""


async def run_delivery_loop(
    pool: asyncpg.Pool,
    client: Client,
    keyring: Keyring,
    stop: asyncio.Event,
    *,
    database_url: str,
    temporal_address: str = "",
    poll_interval: float = 2.0,
) -> None:
    """Deliver queued events until ``stop`` is set; failures are logged and retried with backoff."""
    await run_notified(
        lambda: _pass_unless_stopped(
            deliver_pending_batch(pool, client, keyring, limit=BATCH_SIZE, temporal_address=temporal_address), stop
        ),
        stop,
        database_url=database_url,
        channel=DELIVERY_CHANNEL,
        batch_size=BATCH_SIZE,
        poll_interval=poll_interval,
        what="delivery",
        log=log,
    )


STOP_GRACE_SECONDS = 3.0
"""On stop, a pass in flight gets this long to finish its event; then it is cancelled. Its transaction
rolls back, so the event stays queued and the next worker re-sends it (the workflow ignores a repeat)."""


async def _pass_unless_stopped(work: Coroutine[Any, Any, int], stop: asyncio.Event) -> int:
    """Run one delivery pass; once ``stop`` is set it has ``STOP_GRACE_SECONDS`` left, so a stop stays bounded
    even while signals are being retried against a Temporal that does not answer."""
    task = asyncio.ensure_future(work)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait([task, stopped], return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            await asyncio.wait([task], timeout=STOP_GRACE_SECONDS)
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            return 0
        return task.result()
    finally:
        stopped.cancel()
        if not task.done():
            task.cancel()
