"""A human decision is final (issue 9, item 3), on real Postgres + Temporal.

The first valid completion of a task is committed in Postgres and audited before the run is signaled; a
second one is refused naming who decided and when, with or without a worker running; a signal Temporal
did not take is delivered later by the reconciler, and the run resumes with the first decision.
"""

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from engine.inbound import InboundRejected
from engine.services.audit import Actor
from engine.services.context import ServiceContext
from engine.services.launch import launch_run
from engine.services.publish import publish_definition
from engine.services.reconcile import DELIVERY_GRACE, redeliver_completions
from engine.services.tasks import TaskNotOpen, complete_task, get_task
from engine.stack import Endpoints
from tests.helpers import wait_for_run
from tests.integration.test_ingress import cli_script, run_cli, signal_count
from tests.integration.test_tasks import REFUND, open_task

ANA = Actor(user="ana", source="ssh:10.0.0.1")
BO = Actor(user="bo", source="ssh:10.0.0.2")
FIRST = {"approved": True, "amount": 10, "comment": "first decision"}
SECOND = {"approved": False, "amount": 0, "comment": "second thoughts"}
DEAD_TEMPORAL = "127.0.0.1:1"


@asynccontextmanager
async def running_worker(client: Client, pool: asyncpg.Pool) -> AsyncIterator[None]:
    """A worker of the project on the run queue, for as long as the block lasts."""
    from engine.actions.registry import default_registry
    from engine.temporal.activities import Activities
    from worker.main import build_worker

    async with build_worker(client, Activities(pool=pool, registry=default_registry())):
        yield


def offline(services: ServiceContext) -> ServiceContext:
    """The same database and tenant, with Temporal at an address where nothing listens."""
    endpoints = Endpoints(services.endpoints.database_url, DEAD_TEMPORAL, "default")
    return ServiceContext(pool=services.pool, endpoints=endpoints, tenant=services.tenant, _client=None)


async def task_row(services: ServiceContext, task_id: str) -> dict[str, Any]:
    row = await services.pool.fetchrow(
        "SELECT status, response, completed_by, completed_at, completion_signaled_at FROM workflow_tasks"
        " WHERE tenant = $1 AND task_id = $2",
        services.tenant,
        task_id,
    )
    assert row is not None
    return dict(row)


async def completions_audited(services: ServiceContext, run_id: str) -> list[tuple[str, str | None, Any]]:
    rows = await services.pool.fetch(
        "SELECT actor, source, details FROM workflow_run_audit WHERE tenant = $1 AND run_id = $2"
        " AND action = 'task.complete' ORDER BY id",
        services.tenant,
        run_id,
    )
    return [(r["actor"], r["source"], r["details"]) for r in rows]


async def human_wait_status(services: ServiceContext, run_id: str) -> str:
    status: str = await services.pool.fetchval(
        "SELECT status FROM workflow_run_waits WHERE tenant = $1 AND run_id = $2 AND wait_type = 'human'",
        services.tenant,
        run_id,
    )
    return status


async def test_with_no_worker_the_first_completion_wins_and_the_run_ends_with_it(
    private_temporal: WorkflowEnvironment, db_pool: asyncpg.Pool, migrated_database_url: str
) -> None:
    client = private_temporal.client
    endpoints = Endpoints(migrated_database_url, client.service_client.config.target_host, "default")
    ctx = ServiceContext(db_pool, endpoints, "decide", _client=client)
    await publish_definition(ctx, REFUND)
    async with running_worker(client, db_pool):
        run_id, task_id = await open_task(ctx, "ACME")
    # From here on nothing polls the queue: Temporal takes signals, but no workflow code sees them.

    first = await complete_task(ctx, task_id, FIRST, actor=ANA)

    assert (first.status, first.completed_by, first.response, first.delivery) == (
        "COMPLETED",
        "ana",
        FIRST,
        "delivered",
    )
    assert first.completed_at is not None
    with pytest.raises(TaskNotOpen, match=r"COMPLETED by ana at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC") as refused:
        await complete_task(ctx, task_id, SECOND, actor=BO)
    assert "final" in str(refused.value)
    row = await task_row(ctx, task_id)
    assert (row["status"], row["response"], row["completed_by"]) == ("COMPLETED", FIRST, "ana")
    assert row["completed_at"] == first.completed_at
    assert row["completion_signaled_at"] is not None
    assert await completions_audited(ctx, run_id) == [
        ("ana", "ssh:10.0.0.1", {"task_id": task_id, "task_type": "refund-review"})
    ]
    assert await signal_count(ctx, run_id) == 1
    assert (await wait_for_run(ctx, run_id, frozenset({"WAITING"}))).status == "WAITING"  # nothing ran it yet

    async with running_worker(client, db_pool):
        done = await wait_for_run(ctx, run_id)

    assert done.status == "SUCCEEDED"
    assert done.vars == {"review": FIRST, "done": True}
    assert [(w.wait_type, w.status, w.payload) for w in done.waits] == [("human", "RESOLVED", FIRST)]
    # The workflow's projection of the completion did not overwrite the committed decision.
    row = await task_row(ctx, task_id)
    assert (row["status"], row["response"], row["completed_by"]) == ("COMPLETED", FIRST, "ana")
    assert len(await completions_audited(ctx, run_id)) == 1


async def test_a_completion_temporal_did_not_take_is_delivered_by_the_reconciler(
    services: ServiceContext, temporal_client: Client
) -> None:
    await publish_definition(services, REFUND)
    run_id, task_id = await open_task(services, "ACME")

    pending = await complete_task(offline(services), task_id, FIRST, actor=ANA)

    assert (pending.status, pending.completed_by, pending.delivery) == ("COMPLETED", "ana", "pending")
    assert pending.delivery_problem is not None and DEAD_TEMPORAL in pending.delivery_problem
    row = await task_row(services, task_id)
    assert (row["status"], row["response"], row["completion_signaled_at"]) == ("COMPLETED", FIRST, None)
    assert await signal_count(services, run_id) == 0
    assert await human_wait_status(services, run_id) == "WAITING"
    assert len(await completions_audited(services, run_id)) == 1
    # The decision is made even though the run has not heard of it: a second one is refused.
    with pytest.raises(TaskNotOpen, match="COMPLETED by ana"):
        await complete_task(services, task_id, SECOND, actor=BO)
    # Within the grace the completing command may still be signaling: the reconciler leaves it alone.
    early = await redeliver_completions(services.pool, temporal_client, now=datetime.now(UTC))
    assert [d for d in early if d.tenant == services.tenant] == []

    later = datetime.now(UTC) + DELIVERY_GRACE + timedelta(seconds=1)
    delivered = await redeliver_completions(services.pool, temporal_client, now=later)

    assert [(d.task_id, d.run_id, d.delivered) for d in delivered if d.tenant == services.tenant] == [
        (task_id, run_id, True)
    ]
    done = await wait_for_run(services, run_id)
    assert done.status == "SUCCEEDED"
    assert done.vars == {"review": FIRST, "done": True}
    assert await signal_count(services, run_id) == 1
    assert (await task_row(services, task_id))["completion_signaled_at"] is not None
    # Delivered and resolved: later passes send nothing more.
    again = await redeliver_completions(services.pool, temporal_client, now=later + timedelta(hours=1))
    assert [d for d in again if d.tenant == services.tenant] == []
    assert await signal_count(services, run_id) == 1


async def test_twenty_concurrent_completions_accept_exactly_one(services: ServiceContext) -> None:
    await publish_definition(services, REFUND)
    run_id, task_id = await open_task(services, "ACME")
    actors = [Actor(user=f"op{n}", source="test") for n in range(20)]

    results = await asyncio.gather(
        *(
            complete_task(services, task_id, {"approved": True, "amount": n}, actor=actor)
            for n, actor in enumerate(actors)
        ),
        return_exceptions=True,
    )

    winners = [r for r in results if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, BaseException)]
    assert len(winners) == 1, results
    winner = winners[0]
    assert winner.completed_by is not None
    assert len(losers) == 19 and all(isinstance(r, TaskNotOpen) for r in losers), losers
    assert all(f"COMPLETED by {winner.completed_by} at" in str(r) for r in losers)
    row = await task_row(services, task_id)
    assert (row["completed_by"], row["response"]) == (winner.completed_by, winner.response)
    assert [a for a, _, _ in await completions_audited(services, run_id)] == [winner.completed_by]
    done = await wait_for_run(services, run_id)
    assert done.vars["review"] == winner.response
    assert await signal_count(services, run_id) == 1


async def test_a_response_holding_nul_is_refused_and_the_task_stays_open(services: ServiceContext) -> None:
    await publish_definition(services, REFUND)
    run_id, task_id = await open_task(services, "ACME")

    with pytest.raises(InboundRejected, match=r"comment"):
        await complete_task(services, task_id, {"approved": True, "amount": 1, "comment": "a\u0000b"}, actor=ANA)

    assert (await get_task(services, task_id)).status == "OPEN"
    assert await completions_audited(services, run_id) == []
    assert await signal_count(services, run_id) == 0
    # A valid completion afterwards is the first and only decision.
    await complete_task(services, task_id, FIRST, actor=ANA)
    assert (await wait_for_run(services, run_id)).vars["review"] == FIRST


async def test_a_task_of_a_run_that_is_over_cannot_be_decided(services: ServiceContext) -> None:
    await publish_definition(services, REFUND)
    run_id, task_id = await open_task(services, "ACME")
    # The run row ended (e.g. the reconciler closed it) while its task row still says OPEN.
    await services.pool.execute(
        "UPDATE workflow_runs SET status = 'FAILED', completed_at = now() WHERE tenant = $1 AND run_id = $2",
        services.tenant,
        run_id,
    )

    with pytest.raises(TaskNotOpen, match=f"run {run_id}, which is FAILED"):
        await complete_task(services, task_id, FIRST, actor=ANA)

    assert (await task_row(services, task_id))["status"] == "OPEN"
    assert await completions_audited(services, run_id) == []
    assert await signal_count(services, run_id) == 0
    await (await services.temporal()).get_workflow_handle(f"workflow-runtime-v2:run:{run_id}").terminate("test over")


async def test_cli_says_a_completion_is_recorded_and_its_delivery_pending(
    services: ServiceContext, tmp_path: Path
) -> None:
    await publish_definition(services, REFUND)
    run_id, task_id = await open_task(services, "ACME")
    script = cli_script(tmp_path)

    result = await asyncio.to_thread(
        run_cli, script, offline(services), "task", "complete", task_id, "--response", json.dumps(FIRST)
    )

    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert (printed["status"], printed["delivery"]) == ("COMPLETED", "pending")
    assert "delivery to run" in result.stderr and "pending" in result.stderr and "retries" in result.stderr
    assert (await task_row(services, task_id))["response"] == FIRST

    again = await asyncio.to_thread(
        run_cli, script, services, "task", "complete", task_id, "--response", json.dumps(SECOND)
    )
    assert again.returncode == 1
    assert "COMPLETED by" in again.stderr and "only OPEN tasks" in again.stderr
    assert "Traceback" not in again.stderr
    delivered = await redeliver_completions(
        services.pool, await services.temporal(), now=datetime.now(UTC) + DELIVERY_GRACE * 2
    )
    assert [(d.task_id, d.delivered) for d in delivered if d.tenant == services.tenant] == [(task_id, True)]
    assert (await wait_for_run(services, run_id)).vars["review"] == FIRST


async def test_the_workers_reconciler_loop_delivers_a_pending_completion(
    services: ServiceContext, temporal_client: Client
) -> None:
    from worker.reconciler import run_reconciler

    await publish_definition(services, REFUND)
    run_id, task_id = await open_task(services, "Globex")
    pending = await complete_task(offline(services), task_id, FIRST, actor=ANA)
    assert pending.delivery == "pending"
    # Made a while ago: past the grace the completing command gets to signal it itself.
    await services.pool.execute(
        "UPDATE workflow_tasks SET completed_at = completed_at - interval '1 minute'"
        " WHERE tenant = $1 AND task_id = $2",
        services.tenant,
        task_id,
    )
    stop = asyncio.Event()
    loop = asyncio.create_task(run_reconciler(services.pool, temporal_client, stop, interval=timedelta(seconds=0.2)))
    try:
        done = await wait_for_run(services, run_id)
    finally:
        stop.set()
        await asyncio.wait_for(loop, timeout=10)

    assert done.status == "SUCCEEDED"
    assert done.vars["review"] == FIRST
    assert await signal_count(services, run_id) == 1
    assert (await task_row(services, task_id))["completion_signaled_at"] is not None


async def test_a_task_past_its_timeout_cannot_be_decided(services: ServiceContext) -> None:
    review: dict[str, Any] = REFUND["steps"][0]  # type: ignore[index]
    timed = {**REFUND, "id": "refund-timed", "steps": [{**review, "timeoutMs": 3_600_000}]}
    await publish_definition(services, timed)
    run_id = await launch_run(services, workflow_id="refund-timed", payload={"customer": "ACME", "card": "4111"})
    await wait_for_run(services, run_id, frozenset({"WAITING"}))
    task_id = await services.pool.fetchval(
        "SELECT task_id::text FROM workflow_tasks WHERE tenant = $1 AND run_id = $2", services.tenant, run_id
    )
    later = services.for_tenant(services.tenant)
    later.clock = lambda: datetime.now(UTC) + timedelta(hours=2)

    with pytest.raises(TaskNotOpen, match=r"timed out at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"):
        await complete_task(later, task_id, FIRST, actor=ANA)

    assert (await task_row(services, task_id))["status"] == "OPEN"
    assert await completions_audited(services, run_id) == []
    assert await signal_count(services, run_id) == 0
    await complete_task(services, task_id, FIRST, actor=ANA)  # within its time it is decided as usual
    assert (await wait_for_run(services, run_id)).vars["review"] == FIRST
