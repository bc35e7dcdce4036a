"""The event delivery loop: signals the events ``submit_event(queue=True)`` committed as ``pending``.

It wakes on ``NOTIFY workflow_event_delivery`` (sent in the transaction that queues an event, so it
arrives at commit) and also polls every ``poll_interval`` seconds, so a notification missed while the
listening connection was down never strands an event. Any number of workers may run it: events are
claimed ``FOR UPDATE SKIP LOCKED``. Delivery itself (bounded, retried, once per run) is
:func:`engine.services.delivery.deliver_pending_batch`.
"""

import asyncio
import logging

import asyncpg
from temporalio.client import Client

from engine.errors import ServiceUnavailableError
from engine.keyring import Keyring
from engine.services.delivery import deliver_pending_batch
from engine.store.events import DELIVERY_CHANNEL
from worker.inbox import MAX_BACKOFF_SECONDS, MIN_BACKOFF_SECONDS, Listener, sleep_until

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
    wake = asyncio.Event()
    listener = Listener(database_url, wake, DELIVERY_CHANNEL)
    backoff = MIN_BACKOFF_SECONDS
    try:
        while not stop.is_set():
            await listener.ensure()
            # Cleared before reading, so an event queued during the pass triggers the next one.
            wake.clear()
            try:
                finished = await deliver_pending_batch(
                    pool, client, keyring, limit=BATCH_SIZE, temporal_address=temporal_address
                )
            except ServiceUnavailableError as exc:  # expected during an outage: no traceback
                log.warning("delivery: %s; retrying in %.1f s", exc, backoff)
            except Exception:
                log.exception("delivery pass failed; retrying in %.1f s", backoff)
            else:
                backoff = MIN_BACKOFF_SECONDS
                if finished < BATCH_SIZE:  # a full pass means more may be waiting: go again at once
                    await sleep_until(stop, wake, poll_interval)
                continue
            await sleep_until(stop, None, backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
    finally:
        await listener.close()
