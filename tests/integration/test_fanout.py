"""Queued event fan-out (issue 16): the send returns at once, the worker's delivery loop signals the runs."""

import asyncio

import pytest

from engine.keyring import is_sealed, new_key_line, parse_keys
from engine.services.context import ServiceContext
from engine.services.delivery import deliver, deliver_pending_batch
from engine.services.ingress import get_event, submit_event
from engine.store.events import PENDING_MARKER
from engine.temporal import workflow_id_for_run
from engine.temporal.contracts import EventSignal
from tests.helpers import publish_examples, wait_for_run, wait_until
from tests.integration.test_ingress import APPROVED, signal_count, stored_event, waiting_run
from worker import fanout
from worker.fanout import run_delivery_loop


async def _deliver(services: ServiceContext) -> int:
    return await deliver_pending_batch(services.pool, await services.temporal(), services.keyring, limit=50)


async def test_a_queued_event_is_recorded_with_its_deliveries_and_signaled_by_the_worker(
    services: ServiceContext,
) -> None:
    await publish_examples(services, "event_wait")
    runs = sorted([await waiting_run(services, "T-Q"), await waiting_run(services, "T-Q")])
    sent = await submit_event(
        services, APPROVED, {"amount": 500, "by": "ana"}, event_id="evt-q", correlation_key="T-Q", queue=True
    )
    assert sent.outcome == "queued" and sorted(sent.matched_run_ids) == runs and sent.signaled_run_ids == []
    # Committed with its deliveries, nothing signaled yet; the column holds the sealed original only.
    row = await stored_event(services, "evt-q")
    assert row["outcome"] == "pending" and sorted(row["matched"]) == runs and row["signaled"] == []
    assert is_sealed(row["payload"]["sealed"]) and row["payload"]["recorded"] == {"amount": 500, "by": "ana"}
    assert [await signal_count(services, run_id) for run_id in runs] == [0, 0]
    seen = await get_event(services, "evt-q")
    assert seen is not None and seen.outcome == "queued" and sorted(seen.matched_run_ids) == runs

    # A duplicate send while it is queued returns the first outcome and queues nothing new.
    again = await submit_event(services, APPROVED, {"amount": 1}, event_id="evt-q", correlation_key="T-Q", queue=True)
    assert again.duplicate and again.outcome == "queued"

    assert await _deliver(services) >= 1
    for run_id in runs:
        done = await wait_for_run(services, run_id)
        assert done.status == "SUCCEEDED", done
    row = await stored_event(services, "evt-q")
    assert row["outcome"] == "routed" and sorted(row["signaled"]) == runs and row["error"] is None
    assert row["payload"] == {"amount": 500, "by": "ana"} and row["routed_at"] is not None
    # Delivered once: a later pass finds nothing of it to send.
    await _deliver(services)
    assert [await signal_count(services, run_id) for run_id in runs] == [1, 1]


async def test_a_run_that_ended_before_delivery_counts_as_delivered_to_nobody(services: ServiceContext) -> None:
    await publish_examples(services, "event_wait")
    alive, ended = await waiting_run(services, "T-E"), await waiting_run(services, "T-E")
    sent = await submit_event(services, APPROVED, {"amount": 500, "by": "bo"}, correlation_key="T-E", queue=True)
    assert sorted(sent.matched_run_ids) == sorted([alive, ended])
    client = await services.temporal()
    await client.get_workflow_handle(workflow_id_for_run(ended)).terminate("ended before delivery")
    await _deliver(services)
    row = await stored_event(services, sent.event_id)
    assert row["outcome"] == "routed" and row["signaled"] == [alive] and row["error"] is None


async def test_a_redelivered_event_is_applied_once(services: ServiceContext) -> None:
    """A worker that died after signaling leaves the event queued; the next pass re-sends it harmlessly."""
    await publish_examples(services, "event_wait")
    run_id = await waiting_run(services, "T-R")
    sent = await submit_event(services, APPROVED, {"amount": 500, "by": "cy"}, correlation_key="T-R", queue=True)
    signal = EventSignal(
        event_id=sent.event_id, event_name=APPROVED, correlation_key="T-R", payload={"amount": 500, "by": "cy"}
    )
    first = await deliver(await services.temporal(), [run_id], signal)  # as if the dying worker sent it
    assert first.signaled == [run_id]
    await _deliver(services)
    done = await wait_for_run(services, run_id)
    assert done.status == "SUCCEEDED"
    assert (await stored_event(services, sent.event_id))["outcome"] == "routed"


async def test_the_delivery_loop_wakes_on_the_queued_event(services: ServiceContext) -> None:
    await publish_examples(services, "event_wait")
    run_id = await waiting_run(services, "T-L")
    stop = asyncio.Event()
    loop = asyncio.create_task(
        run_delivery_loop(
            services.pool,
            await services.temporal(),
            services.keyring,
            stop,
            database_url=services.endpoints.database_url,
            poll_interval=60,  # only the notification can wake it within the test's time
        )
    )
    try:
        await asyncio.sleep(0.3)  # let it listen and finish its first (empty) pass
        sent = await submit_event(services, APPROVED, {"amount": 500, "by": "di"}, correlation_key="T-L", queue=True)

        async def routed() -> bool:
            return (await stored_event(services, sent.event_id))["outcome"] == "routed"

        await wait_until(routed, what="the loop to deliver the queued event")
        assert (await wait_for_run(services, run_id)).status == "SUCCEEDED"
    finally:
        stop.set()
        await asyncio.wait_for(loop, 10)


async def test_an_event_with_nothing_to_deliver_is_finished_at_once(services: ServiceContext) -> None:
    sent = await submit_event(services, APPROVED, {"amount": 1}, correlation_key="nobody", queue=True)
    assert sent.outcome == "routed" and sent.matched_run_ids == []
    row = await stored_event(services, sent.event_id)
    assert row["outcome"] == "routed" and PENDING_MARKER not in row["payload"]


async def test_a_stop_cancels_a_pass_that_will_not_finish(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pass stuck retrying signals against a silent Temporal must not hold a stopping worker."""
    monkeypatch.setattr(fanout, "STOP_GRACE_SECONDS", 0.05)
    stop = asyncio.Event()
    cancelled = asyncio.Event()

    async def stuck() -> int:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return 1  # pragma: no cover

    asyncio.get_running_loop().call_later(0.05, stop.set)
    assert await asyncio.wait_for(fanout._pass_unless_stopped(stuck(), stop), 5) == 0
    assert cancelled.is_set()


async def test_a_queued_event_no_key_opens_is_recorded_as_an_error_and_holds_up_nothing(
    services: ServiceContext,
) -> None:
    await publish_examples(services, "event_wait")
    stuck_run, next_run = await waiting_run(services, "T-K1"), await waiting_run(services, "T-K2")
    first = await submit_event(services, APPROVED, {"amount": 500, "by": "ana"}, correlation_key="T-K1", queue=True)
    # The first event's sealed payload under a key the delivering worker will not hold.
    foreign = parse_keys(new_key_line("gone")).seal_json({"amount": 500, "by": "ana"})
    await services.pool.execute(
        "UPDATE workflow_runtime_events SET payload = jsonb_set(payload, '{sealed}', $3::jsonb)"
        " WHERE tenant = $1 AND event_id = $2",
        services.tenant,
        first.event_id,
        foreign,
    )
    second = await submit_event(services, APPROVED, {"amount": 500, "by": "bo"}, correlation_key="T-K2", queue=True)
    assert await _deliver(services) >= 2
    row = await stored_event(services, first.event_id)
    assert row["outcome"] == "error" and "cannot be opened" in row["error"] and "'gone'" in row["error"]
    assert row["signaled"] == [] and await signal_count(services, stuck_run) == 0
    assert (await stored_event(services, second.event_id))["outcome"] == "routed"
    assert (await wait_for_run(services, next_run)).status == "SUCCEEDED"
