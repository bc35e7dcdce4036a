"""Event delivery: signal one event to many runs, concurrently, bounded and retried (issue 16's fan-out).

Used twice: by inline routing (``submit_event`` without ``queue``) and by the worker's delivery loop
(``worker.fanout``), which delivers the events ``submit_event(queue=True)`` committed as ``pending``.

Per run, a signal is retried on transient Temporal errors (unavailable, deadline, throttled, the server
canceling the call) with a short backoff and the same request id, so the server applies a retried signal
once; a run whose workflow ended before its signal arrived (Temporal answers ``NOT_FOUND``, "already
completed") was delivered to nobody, which is not an error. Re-sending an event is harmless: the workflow ignores an
event id it already consumed, so a delivery retried after a crash is still applied once per run.
"""

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

import asyncpg
from temporalio.api.common.v1 import Payloads, WorkflowExecution
from temporalio.api.workflowservice.v1 import SignalWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from engine.errors import RunStudioError, TemporalUnavailable
from engine.keyring import Keyring
from engine.store import events
from engine.temporal import workflow_id_for_run
from engine.temporal.contracts import EventSignal

log = logging.getLogger("runstudio.delivery")

DELIVERY_CONCURRENCY = 64
"""Signals in flight at once per delivering process. 64 keeps the dev server's frontend busy without
queueing so many RPCs that the retry deadlines start to fire; measured in bench/fanout.py."""

SIGNAL_ATTEMPTS = 5
"""Tries per run for a transient Temporal error before the event is left for a later pass."""

_FIRST_BACKOFF_SECONDS = 0.1
_SIGNAL_TIMEOUT = timedelta(seconds=10)

_TRANSIENT = frozenset(
    {
        RPCStatusCode.UNAVAILABLE,
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.RESOURCE_EXHAUSTED,
        RPCStatusCode.ABORTED,
        RPCStatusCode.INTERNAL,
        RPCStatusCode.UNKNOWN,
        # The server gave up on the call (its own deadline under load: seen once in 10,000 signals at load 12,
        # which left that run waiting). Our own cancellation raises CancelledError, never this.
        RPCStatusCode.CANCELLED,
    }
)

_ENDED = "already completed"
"""Temporal's NOT_FOUND for a workflow that ended (completed, failed, canceled, terminated). A workflow
Temporal never knew is NOT_FOUND with another message: a read-model out of step, reported as an error."""

_SIGNAL_NAME = "event"
"""``RunWorkflow.event``'s signal name (kept here as a string: sending it needs no workflow import)."""


@dataclass
class Delivered:
    """What delivering one event did: runs signaled, runs already ended, failures (one line each)."""

    signaled: list[str] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    unavailable: bool = False
    """Some signal still failed transiently after every try: Temporal is (or was) not answering."""


async def deliver(
    client: Client,
    run_ids: list[str],
    signal: EventSignal,
    *,
    concurrency: int = DELIVERY_CONCURRENCY,
    first_sent: asyncio.Event | None = None,
) -> Delivered:
    """Signal ``signal`` to every run of ``run_ids``, at most ``concurrency`` at once.

    ``first_sent`` is set as the first signal goes out (or once delivery is over, if none did), so a caller can
    do its own work while the signals are in flight without holding up the first one.

    The payload is encoded once (the codec encrypts it once) and the same bytes go to every run. The signals
    are sent by ``concurrency`` senders taking the next run from one shared iterator, so 10,000 runs cost
    ``concurrency`` coroutines, not 10,000 tasks queued on a semaphore. A sender retrying a transient error
    waits out its backoff in its slot: when Temporal throttles or is away, sending more at once cannot help.
    """
    encoded = Payloads(payloads=await client.data_converter.encode([signal]))
    namespace = client.namespace
    identity = client.identity
    service = client.workflow_service
    delivered = Delivered()
    failures: list[tuple[str, str]] = []

    async def one(run_id: str) -> None:
        # One request id for every try: a signal the server applied but could not answer is not applied twice.
        request = SignalWorkflowExecutionRequest(
            namespace=namespace,
            workflow_execution=WorkflowExecution(workflow_id=workflow_id_for_run(run_id)),
            signal_name=_SIGNAL_NAME,
            input=encoded,
            identity=identity,
            request_id=str(uuid.uuid4()),
        )
        backoff = _FIRST_BACKOFF_SECONDS
        for attempt in range(1, SIGNAL_ATTEMPTS + 1):
            if first_sent is not None:
                first_sent.set()
            try:
                await service.signal_workflow_execution(request, timeout=_SIGNAL_TIMEOUT)
            except RPCError as exc:
                if exc.status == RPCStatusCode.NOT_FOUND and _ENDED in exc.message:
                    delivered.ended.append(run_id)
                    return
                if exc.status not in _TRANSIENT or attempt == SIGNAL_ATTEMPTS:
                    delivered.unavailable |= exc.status in _TRANSIENT
                    failures.append((run_id, f"signal to run {run_id} failed: {exc.status.name}: {exc.message}"))
                    return
            except Exception as exc:  # one failure must not stop the others
                failures.append((run_id, f"signal to run {run_id} failed: {type(exc).__name__}: {exc}"))
                return
            else:
                delivered.signaled.append(run_id)
                return
            await asyncio.sleep(backoff)
            backoff *= 2

    todo = iter(run_ids)

    async def sender() -> None:
        for run_id in todo:  # shared: each run is taken by exactly one sender
            await one(run_id)

    try:
        await asyncio.gather(*(sender() for _ in range(max(1, min(concurrency, len(run_ids))))))
    finally:
        if first_sent is not None:
            first_sent.set()
    # Senders finish out of order; the lists keep the order the runs were given in.
    order = {run_id: index for index, run_id in enumerate(run_ids)}
    delivered.signaled.sort(key=order.__getitem__)
    delivered.ended.sort(key=order.__getitem__)
    delivered.errors = [failure for _, failure in sorted(failures, key=lambda f: order[f[0]])]
    return delivered


async def deliver_pending_batch(
    pool: asyncpg.Pool, client: Client, keyring: Keyring, *, limit: int = 10, temporal_address: str = ""
) -> int:
    """Deliver up to ``limit`` queued events and return how many were finished.

    Each event is claimed ``FOR UPDATE SKIP LOCKED`` and finished in that transaction, so a worker that
    dies mid-delivery leaves it queued and another pass re-sends it (deduplicated by the workflow). When
    Temporal does not answer (a signal still failing transiently after ``SIGNAL_ATTEMPTS``), the batch
    stops, what was finished commits, the event stays queued and ``TemporalUnavailable`` is raised so
    the loop backs off. A run that ended counts as delivered to nobody; other failures are recorded on
    the event (outcome ``error``), like inline routing records them.
    """
    finished = 0
    async with pool.acquire() as conn:
        for _ in range(limit):
            # One event per transaction: a finished event commits (and is visible) before the next starts.
            async with conn.transaction():
                claimed = await events.claim_pending_deliveries(conn, limit=1)
                if not claimed:
                    break
                event = claimed[0]
                try:
                    payload = keyring.open_json(event.sealed_payload)
                except RunStudioError as exc:
                    # A payload this worker cannot open (its key left the keyring, or it was altered) can never
                    # be delivered by retrying: recorded as an error, it no longer holds up the events behind it.
                    log.error("event %s (tenant %s) cannot be delivered: %s", event.event_id, event.tenant, exc)
                    await events.finish_delivery(
                        conn,
                        tenant=event.tenant,
                        event_id=event.event_id,
                        outcome="error",
                        started_run_ids=event.started_run_ids,
                        signaled_run_ids=[],
                        error=f"the queued payload cannot be opened: {exc}",
                    )
                    finished += 1
                    continue
                signal = EventSignal(
                    event_id=event.event_id,
                    event_name=event.event_name,
                    correlation_key=event.correlation_key,
                    payload=payload,
                )
                delivered = await deliver(client, event.matched_run_ids, signal)
                if delivered.unavailable:
                    raise TemporalUnavailable(temporal_address or "temporal", "; ".join(delivered.errors[:3]))
                errors = ([event.error] if event.error else []) + delivered.errors
                await events.finish_delivery(
                    conn,
                    tenant=event.tenant,
                    event_id=event.event_id,
                    outcome="error" if errors else "routed",
                    started_run_ids=event.started_run_ids,
                    signaled_run_ids=delivered.signaled,
                    error="; ".join(errors) or None,
                )
                if delivered.errors:
                    log.warning("event %s (tenant %s) delivered with errors: %s", event.event_id, event.tenant, errors)
            finished += 1
    return finished
