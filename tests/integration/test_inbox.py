"""The event-inbox consumer on real Postgres + Temporal: NOTIFY wake-up, poison rows, several consumers."""

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import asyncpg
import pytest

from engine.errors import ServiceUnavailableError
from engine.services.context import ServiceContext
from engine.services.ingress import INBOX_MAX_ATTEMPTS, ingest_inbox_batch, set_correlation_rule, submit_event
from engine.stack import Endpoints
from engine.store.db import create_pool
from tests.helpers import publish_examples, wait_for_run, wait_until
from tests.integration.test_ingress import APPROVED, stored_event, waiting_run
from worker.inbox import run_inbox_consumer

ENQUEUE = """
INSERT INTO workflow_event_inbox (tenant, event_id, event_name, payload, correlation_key)
VALUES ($1, $2, $3, $4, $5)
"""


@asynccontextmanager
async def consumer(
    services: ServiceContext,
    factory: Callable[[str], ServiceContext] | None = None,
    *,
    poll_interval: float = 2.0,
    batch_size: int = 20,
    application_name: str = "inbox-consumer-test",
) -> AsyncIterator[None]:
    """Run ``run_inbox_consumer`` on its own pool (as a worker would) until the block ends."""
    url = services.endpoints.database_url
    # asyncpg passes unknown URL parameters as server settings: the name lets a test find these backends.
    url += ("&" if "?" in url else "?") + f"application_name={application_name}"
    pool = await create_pool(url, min_size=1, max_size=4)
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_inbox_consumer(
            pool,
            factory or services.for_tenant,
            stop,
            database_url=url,
            poll_interval=poll_interval,
            batch_size=batch_size,
        )
    )
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=15)
        await pool.close()


async def inbox_row(pool: asyncpg.Pool, tenant: str, event_id: str) -> asyncpg.Record:
    return await pool.fetchrow(
        "SELECT processed_at, attempts, last_error FROM workflow_event_inbox WHERE tenant = $1 AND event_id = $2",
        tenant,
        event_id,
    )


async def processed(pool: asyncpg.Pool, tenant: str, event_id: str) -> bool:
    row = await inbox_row(pool, tenant, event_id)
    return row is not None and row["processed_at"] is not None


async def test_a_row_inserted_with_plain_sql_resumes_the_waiting_run(services: ServiceContext) -> None:
    await publish_examples(services, "event_wait")
    keyed = await waiting_run(services, "T-IN1")
    by_rule = await waiting_run(services, "T-IN2")
    await set_correlation_rule(services, APPROVED, "payload.ticket")
    pool, tenant = services.pool, services.tenant

    # A 30 s poll interval: within the test's 20 s only NOTIFY can wake the consumer.
    async with consumer(services, poll_interval=30):
        await pool.execute(ENQUEUE, tenant, "in-1", APPROVED, {"amount": 500, "by": "inbox"}, "T-IN1")
        await wait_until(lambda: processed(pool, tenant, "in-1"), what="the first inbox row to be processed")
        assert (await wait_for_run(services, keyed)).vars["approvedBy"] == "inbox"

        # The consumer is now idle, waiting for a notification.
        await pool.execute(ENQUEUE, tenant, "in-2", APPROVED, {"ticket": "T-IN2", "amount": 500, "by": "rule"}, None)
        await pool.execute(ENQUEUE, tenant, "in-poison", APPROVED, [1, 2, 3], "T-IN2")
        await wait_until(lambda: processed(pool, tenant, "in-2"), what="the second inbox row to be processed")
        await wait_until(lambda: processed(pool, tenant, "in-poison"), what="the poison row to be parked")

    assert (await wait_for_run(services, by_rule)).vars["approvedBy"] == "rule"
    first = await stored_event(services, "in-1")
    assert first["source"] == "inbox" and first["outcome"] == "routed" and first["signaled"] == [keyed]
    second = await stored_event(services, "in-2")
    assert second["correlation_key"] == "T-IN2" and second["signaled"] == [by_rule]
    ok = await inbox_row(pool, tenant, "in-1")
    assert ok["attempts"] == 0 and ok["last_error"] is None
    poison = await inbox_row(pool, tenant, "in-poison")
    assert poison["attempts"] == 1 and "JSON object" in poison["last_error"]
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM workflow_runtime_events WHERE tenant = $1 AND event_id = 'in-poison'", tenant
        )
        == 0
    )


async def test_two_consumers_ingest_each_row_exactly_once(services: ServiceContext) -> None:
    pool, tenant = services.pool, services.tenant
    routed: Counter[str] = Counter()

    def counting(tenant_name: str) -> ServiceContext:
        # Called once per row a consumer routes: the total shows whether a row was routed twice.
        routed[tenant_name] += 1
        return services.for_tenant(tenant_name)

    await pool.execute(
        "INSERT INTO workflow_event_inbox (tenant, event_id, event_name, payload, correlation_key)"
        " SELECT $1, 'bulk-' || n, 'bulk.ping', jsonb_build_object('n', n), 'k-' || n FROM generate_series(1, 30) n",
        tenant,
    )

    async def all_processed() -> bool:
        pending = await pool.fetchval(
            "SELECT count(*) FROM workflow_event_inbox WHERE tenant = $1 AND processed_at IS NULL", tenant
        )
        return bool(pending == 0)

    async with consumer(services, counting, batch_size=4), consumer(services, counting, batch_size=4):
        await wait_until(all_processed, what="every inbox row to be processed")

    assert routed[tenant] == 30
    events = await pool.fetch(
        "SELECT event_id, source, outcome, payload FROM workflow_runtime_events WHERE tenant = $1", tenant
    )
    assert sorted(e["event_id"] for e in events) == sorted(f"bulk-{n}" for n in range(1, 31))
    assert {(e["source"], e["outcome"]) for e in events} == {("inbox", "routed")}
    assert all(e["payload"] == {"n": int(e["event_id"].removeprefix("bulk-"))} for e in events)
    rows = await pool.fetch(
        "SELECT processed_at, attempts, last_error FROM workflow_event_inbox WHERE tenant = $1", tenant
    )
    assert len(rows) == 30
    assert all(r["processed_at"] is not None and r["attempts"] == 0 and r["last_error"] is None for r in rows)


async def listening_pids(pool: asyncpg.Pool, application_name: str) -> list[int]:
    rows = await pool.fetch(
        "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND query ILIKE 'LISTEN%'", application_name
    )
    return [r["pid"] for r in rows]


async def test_the_consumer_survives_its_connections_being_killed(services: ServiceContext) -> None:
    """What a database restart does to a worker: every connection of the consumer is terminated."""
    await publish_examples(services, "event_wait")
    run_id = await waiting_run(services, "T-RESTART")
    pool, tenant = services.pool, services.tenant
    name = f"inbox-{uuid.uuid4().hex[:8]}"
    async with consumer(services, poll_interval=30, application_name=name):
        before = await wait_until(lambda: listening_pids(pool, name), what="the consumer to LISTEN")
        killed = await pool.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1", name
        )
        assert killed >= 1

        async def listening_again() -> bool:
            pids = await listening_pids(pool, name)
            return bool(pids) and not set(pids) & set(before)

        await wait_until(listening_again, what="the consumer to LISTEN on a new connection")
        # Polling is 30 s apart, so only the renewed LISTEN can deliver this row within the wait.
        await pool.execute(ENQUEUE, tenant, "after-restart", APPROVED, {"amount": 500, "by": "phoenix"}, "T-RESTART")
        await wait_until(lambda: processed(pool, tenant, "after-restart"), what="the row sent after the restart")
    assert (await wait_for_run(services, run_id)).vars["approvedBy"] == "phoenix"


async def test_temporal_down_records_nothing_and_leaves_the_row_for_later(services: ServiceContext) -> None:
    """Not the row's fault: no attempt is counted, nothing is recorded, and the row is routed once Temporal is back."""
    pool, tenant = services.pool, services.tenant
    nowhere = ServiceContext(
        pool=pool,
        endpoints=Endpoints(services.endpoints.database_url, "127.0.0.1:1", "default"),
        tenant=tenant,
    )
    with pytest.raises(ServiceUnavailableError):
        await submit_event(nowhere, "down.test", {}, event_id="api-down", correlation_key="k")
    assert await pool.fetchval("SELECT count(*) FROM workflow_runtime_events WHERE tenant = $1", tenant) == 0

    await pool.execute(ENQUEUE, tenant, "inbox-down", "down.test", {"n": 1}, "k")
    with pytest.raises(ServiceUnavailableError):
        await ingest_inbox_batch(nowhere.for_tenant, pool)
    row = await inbox_row(pool, tenant, "inbox-down")
    assert row["processed_at"] is None and row["attempts"] == 0 and row["last_error"] is None
    assert await pool.fetchval("SELECT count(*) FROM workflow_runtime_events WHERE tenant = $1", tenant) == 0

    async with consumer(services):
        await wait_until(
            lambda: processed(pool, tenant, "inbox-down"), what="the row to be routed once Temporal answers"
        )
    assert (await stored_event(services, "inbox-down"))["outcome"] == "routed"


async def test_a_failing_row_backs_off_and_is_parked_after_the_last_attempt(services: ServiceContext) -> None:
    pool, tenant = services.pool, services.tenant

    def broken(tenant_name: str) -> ServiceContext:
        raise RuntimeError(f"no services for {tenant_name}")

    await pool.execute(ENQUEUE, tenant, "poison", "poison.test", {}, "k")
    await ingest_inbox_batch(broken, pool)
    row = await inbox_row(pool, tenant, "poison")
    assert row["attempts"] == 1 and row["processed_at"] is None
    assert row["last_error"] == f"RuntimeError: no services for {tenant}"
    # Retried only after its backoff (2 s after enqueueing for a second attempt).
    await ingest_inbox_batch(broken, pool)
    assert (await inbox_row(pool, tenant, "poison"))["attempts"] == 1

    await pool.execute(
        "UPDATE workflow_event_inbox SET enqueued_at = now() - interval '1 hour' WHERE tenant = $1", tenant
    )
    for _ in range(INBOX_MAX_ATTEMPTS - 1):
        await ingest_inbox_batch(broken, pool)
    parked = await inbox_row(pool, tenant, "poison")
    assert parked["attempts"] == INBOX_MAX_ATTEMPTS and parked["processed_at"] is not None
    assert parked["last_error"].startswith(f"gave up after {INBOX_MAX_ATTEMPTS} attempts: RuntimeError")
    await ingest_inbox_batch(broken, pool)
    assert (await inbox_row(pool, tenant, "poison"))["attempts"] == INBOX_MAX_ATTEMPTS
