"""The event-inbox consumer: routes rows other systems INSERT into ``workflow_event_inbox``.

It wakes on ``NOTIFY workflow_event_inbox`` (sent by the table's insert trigger) and also polls every
``poll_interval`` seconds, so a notification missed while the listening connection was down never
strands a row. Any number of workers may run it at once: rows are claimed ``FOR UPDATE SKIP LOCKED``.
Errors are logged and retried with backoff; a database restart does not stop it. A row whose values
break the inbound rules (``engine.inbound``) or cannot even be decoded is not an error of the batch:
``ingest_inbox_batch`` parks it at once (processed, ``last_error`` naming the path and the rule), so it is
never retried and never blocks the rows behind it.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from engine.errors import ServiceUnavailableError
from engine.services.context import ServiceContext
from engine.services.ingress import ingest_inbox_batch

log = logging.getLogger("runstudio.inbox")

CHANNEL = "workflow_event_inbox"
"""The channel the inbox insert trigger notifies (migrations/0001_schema.sql)."""

MIN_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0
"""A failing batch (database down) is retried after 1 s, doubling up to 30 s."""

# Bounded so an unreachable database delays polling (which then fails and backs off) only briefly.
_CONNECT_TIMEOUT = 5.0


async def run_inbox_consumer(
    pool: asyncpg.Pool,
    services_for_tenant: Callable[[str], ServiceContext],
    stop: asyncio.Event,
    *,
    database_url: str,
    poll_interval: float = 2.0,
    batch_size: int = 20,
) -> None:
    """Ingest the inbox until ``stop`` is set.

    ``pool`` serves the inbox queries; ``services_for_tenant`` gives the services facade acting for a
    row's tenant (in the worker: ``ServiceContext.for_tenant`` of a context sharing the worker's pool
    and Temporal client); ``database_url`` opens the one extra connection that LISTENs. Batches are
    small because a batch holds its row locks while it calls Temporal.
    """
    await run_notified(
        lambda: ingest_inbox_batch(services_for_tenant, pool, limit=batch_size),
        stop,
        database_url=database_url,
        channel=CHANNEL,
        batch_size=batch_size,
        poll_interval=poll_interval,
        what="inbox",
        log=log,
    )


async def run_notified(
    one_pass: Callable[[], Awaitable[int]],
    stop: asyncio.Event,
    *,
    database_url: str,
    channel: str,
    batch_size: int,
    poll_interval: float,
    what: str,
    log: logging.Logger,
) -> None:
    """Run ``one_pass`` (it returns how many items it finished) until ``stop``: at once again after a full
    batch, else on a NOTIFY on ``channel`` or after ``poll_interval``; a failing pass backs off 1 s → 30 s.

    The loop of both the inbox consumer and the event delivery loop (``worker.fanout``).
    """
    wake = asyncio.Event()
    listener = Listener(database_url, wake, channel)
    backoff = MIN_BACKOFF_SECONDS
    try:
        while not stop.is_set():
            await listener.ensure()
            # Cleared before reading, so a notification that arrives during the pass triggers the next one.
            wake.clear()
            try:
                handled = await one_pass()
            except ServiceUnavailableError as exc:  # expected during an outage: no traceback
                log.warning("%s: %s; retrying in %.1f s", what, exc, backoff)
            except Exception:
                log.exception("%s pass failed; retrying in %.1f s", what, backoff)
            else:
                backoff = MIN_BACKOFF_SECONDS
                if handled < batch_size:  # a full batch means more may be waiting: go again at once
                    await sleep_until(stop, wake, poll_interval)
                continue
            await sleep_until(stop, None, backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
    finally:
        await listener.close()


class Listener:
    """A dedicated connection that LISTENs on ``channel``, re-opened whenever it breaks (a database restart).

    Shared with the event delivery loop (``worker.fanout``), which listens on its own channel.
    """

    def __init__(self, database_url: str, wake: asyncio.Event, channel: str = CHANNEL) -> None:
        self._database_url = database_url
        self._wake = wake
        self._channel = channel
        self._conn: Any = None

    def _notified(self, *_args: Any) -> None:
        self._wake.set()

    def _lost(self, *_args: Any) -> None:
        log.warning("%s: the LISTEN connection was lost; reconnecting", self._channel)
        self._wake.set()

    async def ensure(self) -> None:
        """Listen if not listening; on failure, log and rely on polling until the next call."""
        if self._conn is not None and not self._conn.is_closed():
            return
        await self.close()
        try:
            conn = await asyncpg.connect(self._database_url, timeout=_CONNECT_TIMEOUT)
        except Exception as exc:
            log.warning("%s: cannot LISTEN (%s); polling until the database is back", self._channel, exc)
            return
        try:
            await conn.add_listener(self._channel, self._notified)
        except Exception as exc:
            log.warning("%s: cannot LISTEN (%s); polling until the database is back", self._channel, exc)
            conn.terminate()
            return
        # A broken connection wakes the loop at once, so it re-listens and polls instead of sleeping
        # through notifications nobody can receive.
        conn.add_termination_listener(self._lost)
        self._conn = conn

    async def close(self) -> None:
        """Stop listening and close the connection."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        conn.remove_termination_listener(self._lost)
        if conn.is_closed():
            return
        try:
            await conn.close(timeout=_CONNECT_TIMEOUT)
        except Exception as exc:  # it is going away either way
            log.debug("%s: closing the LISTEN connection failed (%s); terminating it", self._channel, exc)
            conn.terminate()


async def sleep_until(stop: asyncio.Event, wake: asyncio.Event | None, seconds: float) -> None:
    """Sleep ``seconds``, returning early when ``stop`` (or ``wake``) is set."""
    waiters = [asyncio.ensure_future(stop.wait())]
    if wake is not None:
        waiters.append(asyncio.ensure_future(wake.wait()))
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
