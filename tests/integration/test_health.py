"""Stuck runs say why, as asked of Temporal; the reconciler brings the read-model in line with Temporal."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from temporalio import workflow
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from engine.services.context import ServiceContext
from engine.services.health import diagnose
from engine.services.launch import launch_run
from engine.services.reconcile import reconcile_once
from engine.services.runs import get_run_detail
from engine.stack import Endpoints
from engine.store import launch_lock
from engine.temporal import TASK_QUEUE, workflow_id_for_run
from engine.temporal.client import workflow_pollers
from tests.helpers import publish_examples, wait_for_run, wait_until

LATER = timedelta(minutes=2)


def later(ctx: ServiceContext) -> ServiceContext:
    """The same services, with a clock two minutes ahead so that fresh runs count as stuck."""
    return ServiceContext(ctx.pool, ctx.endpoints, ctx.tenant, lambda: datetime.now(UTC) + LATER, ctx._client)


def on(env: WorkflowEnvironment, pool: asyncpg.Pool, url: str) -> ServiceContext:
    address = env.client.service_client.config.target_host
    return ServiceContext(pool, Endpoints(url, address, "default"), f"h-{uuid.uuid4().hex[:8]}", _client=env.client)


async def test_no_worker_polling_is_named_as_the_reason(
    private_temporal: WorkflowEnvironment, db_pool: asyncpg.Pool, migrated_database_url: str
) -> None:
    ctx = on(private_temporal, db_pool, migrated_database_url)
    await publish_examples(ctx, "branching")
    run_id = await launch_run(ctx, workflow_id="branching", payload={})
    assert await diagnose(ctx, run_id) is None  # not yet past the threshold
    detail = await get_run_detail(later(ctx), run_id)
    assert detail.stuck
    diagnosis = await diagnose(later(ctx), run_id)
    assert diagnosis is not None
    assert diagnosis.cause == "no_pollers"
    assert "No worker polls task queue workflow-runtime-v2" in diagnosis.message


async def test_a_run_temporal_never_heard_of_is_named(services: ServiceContext) -> None:
    await publish_examples(services, "branching")
    run_id = str(uuid.uuid4())
    await _insert_orphan(services, run_id)
    diagnosis = await diagnose(later(services), run_id)
    assert diagnosis is not None
    assert diagnosis.cause == "no_execution"
    assert workflow_id_for_run(run_id) in diagnosis.message


@workflow.defn(name="some-other-workflow")
class _Unrelated:
    @workflow.run
    async def run(self) -> None:
        return None


async def test_a_failing_workflow_task_is_named_with_its_attempts(
    private_temporal: WorkflowEnvironment, db_pool: asyncpg.Pool, migrated_database_url: str
) -> None:
    ctx = on(private_temporal, db_pool, migrated_database_url)
    await publish_examples(ctx, "branching")
    # A worker that polls the queue but does not know the run's workflow type: every task fails.
    async with Worker(
        private_temporal.client,
        task_queue=TASK_QUEUE,
        workflows=[_Unrelated],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        run_id = await launch_run(ctx, workflow_id="branching", payload={})
        handle = private_temporal.client.get_workflow_handle(workflow_id_for_run(run_id))

        async def failing_twice() -> bool:
            return (await handle.describe()).raw_description.pending_workflow_task.attempt > 2

        await wait_until(failing_twice, timeout=30, what="the workflow task to fail repeatedly")
        diagnosis = await diagnose(later(ctx), run_id)
    assert diagnosis is not None
    assert diagnosis.cause == "workflow_task_failing"
    assert "has failed" in diagnosis.message
    assert "workflow-runtime-v2" in diagnosis.message  # the last failure names the unknown workflow type


async def test_reconciler_fails_runs_temporal_has_no_execution_for(services: ServiceContext) -> None:
    await publish_examples(services, "branching")
    run_id = str(uuid.uuid4())
    await _insert_orphan(services, run_id)
    fixes = await reconcile_once(services.pool, await services.temporal(), now=datetime.now(UTC) + LATER)
    mine = [f for f in fixes if f.run_id == run_id]
    assert [(f.before, f.after) for f in mine] == [("RUNNING", "FAILED")]
    detail = await get_run_detail(services, run_id)
    assert detail.status == "FAILED"
    assert detail.error is not None and detail.error["category"] == "Reconciled"
    assert [w.status for w in detail.waits] == ["CANCELED"]
    assert detail.completed_at is not None


async def test_reconciler_leaves_a_run_whose_start_is_still_pending(services: ServiceContext) -> None:
    # A launcher between the run's insert and Temporal's answer (the SDK retries a start while Temporal is
    # away, for longer than any grace) holds the run's launch lock: no execution yet is not "stranded".
    await publish_examples(services, "branching")
    run_id = str(uuid.uuid4())
    await _insert_orphan(services, run_id)
    client = await services.temporal()
    async with launch_lock.launching(services.pool, run_id):
        fixes = await reconcile_once(services.pool, client, now=datetime.now(UTC) + LATER)
        assert [f for f in fixes if f.run_id == run_id] == []
        assert (await get_run_detail(services, run_id)).status == "RUNNING"
    # Its launcher gone without an answer (the lock released), the run is closed as before.
    fixes = await reconcile_once(services.pool, client, now=datetime.now(UTC) + LATER)
    assert [(f.before, f.after) for f in fixes if f.run_id == run_id] == [("RUNNING", "FAILED")]


async def test_reconciler_closes_a_run_terminated_outside_run_studio(services: ServiceContext) -> None:
    await publish_examples(services, "timer")
    run_id = await launch_run(services, workflow_id="timer", payload={"waitMs": 600000})
    await wait_for_run(services, run_id, frozenset({"WAITING"}))
    client: Client = await services.temporal()
    await client.get_workflow_handle(workflow_id_for_run(run_id)).terminate(reason="operator in Temporal UI")
    fixes = await reconcile_once(services.pool, client, now=datetime.now(UTC) + LATER)
    assert [(f.before, f.after, f.reason) for f in fixes if f.run_id == run_id] == [
        ("WAITING", "FAILED", "terminated in Temporal")
    ]
    detail = await get_run_detail(services, run_id)
    assert detail.status == "FAILED"
    assert [w.status for w in detail.waits] == ["CANCELED"]
    assert [s.status for s in detail.steps] == ["CANCELED"]
    # A second pass finds nothing left to fix for this run.
    again = await reconcile_once(services.pool, client, now=datetime.now(UTC) + LATER)
    assert [f for f in again if f.run_id == run_id] == []


async def _insert_orphan(services: ServiceContext, run_id: str) -> None:
    """A RUNNING run row with an open wait whose workflow was never started (a lost start)."""
    version: Any = await services.pool.fetchrow(
        "SELECT version, definition_hash FROM workflow_definition_versions WHERE tenant = $1 AND workflow_id = $2",
        services.tenant,
        "branching",
    )
    await services.pool.execute(
        """INSERT INTO workflow_runs (tenant, run_id, workflow_id, workflow_version, status, trigger, definition_hash,
                                      started_at, updated_at)
           VALUES ($1, $2, 'branching', $3, 'RUNNING', 'manual', $4, now() - interval '5 minutes',
                   now() - interval '5 minutes')""",
        services.tenant,
        run_id,
        version["version"],
        version["definition_hash"],
    )
    await services.pool.execute(
        """INSERT INTO workflow_run_waits (tenant, run_id, seq, step_path, wait_type, status)
           VALUES ($1, $2, 1, 'root.steps[0]', 'time', 'WAITING')""",
        services.tenant,
        run_id,
    )


async def test_pollers_not_seen_recently_are_not_counted(private_temporal: WorkflowEnvironment) -> None:
    async with Worker(
        private_temporal.client,
        task_queue=TASK_QUEUE,
        workflows=[_Unrelated],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):

        async def listed() -> bool:
            return bool(await workflow_pollers(private_temporal.client, seen_within=None))

        await wait_until(listed, what="the worker to be listed")
        assert len(await workflow_pollers(private_temporal.client)) == 1
        # With no tolerance at all, even this live worker's last poll is already in the past.
        assert await workflow_pollers(private_temporal.client, seen_within=timedelta(0)) == []
