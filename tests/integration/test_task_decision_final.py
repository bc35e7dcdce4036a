"""A human decision is final, on the workflow's side: the first completion wins, a committed task stays."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from temporalio.testing import WorkflowEnvironment

from engine.actions.registry import default_registry
from engine.redaction import Redactor
from engine.services.context import ServiceContext
from engine.services.launch import launch_run
from engine.stack import Endpoints
from engine.store import projections
from engine.temporal import workflow_id_for_run
from engine.temporal.activities import Activities
from engine.temporal.contracts import Projection, TaskCompletion, TaskRecord
from tests.helpers import publish_examples, wait_for_run
from worker.main import build_worker

TENANT = "decisions"


async def test_the_first_completion_of_a_task_wins_over_a_later_one(
    private_temporal: WorkflowEnvironment, db_pool: asyncpg.Pool, migrated_database_url: str
) -> None:
    client = private_temporal.client
    ctx = ServiceContext(
        db_pool,
        Endpoints(migrated_database_url, client.service_client.config.target_host, "default"),
        TENANT,
        _client=client,
    )
    await publish_examples(ctx, "human_task")
    async with build_worker(client, Activities(pool=db_pool, registry=default_registry())):
        run_id = await launch_run(ctx, workflow_id="human-task", payload={"customer": "Ada"})
        await wait_for_run(ctx, run_id, frozenset({"WAITING"}))
    task_id = await db_pool.fetchval("SELECT task_id::text FROM workflow_tasks WHERE tenant = $1", TENANT)

    # With no worker running, both completions wait in the history and reach the workflow together.
    handle = client.get_workflow_handle(workflow_id_for_run(run_id))
    first = TaskCompletion(task_id=task_id, response={"approved": True, "comment": "first"}, completed_by="ann")
    second = TaskCompletion(task_id=task_id, response={"approved": False, "comment": "second"}, completed_by="bob")
    await handle.signal("complete_task", first)
    await handle.signal("complete_task", second)
    async with build_worker(client, Activities(pool=db_pool, registry=default_registry())):
        detail = await wait_for_run(ctx, run_id)

    assert detail.status == "SUCCEEDED", detail.error
    assert detail.vars["review"] == {"approved": True, "comment": "first"}
    assert detail.vars["outcome"] == "refunded"
    assert [(w.status, w.payload) for w in detail.waits] == [("RESOLVED", {"approved": True, "comment": "first"})]
    task = await db_pool.fetchrow(
        "SELECT status, response, completed_by FROM workflow_tasks WHERE tenant = $1 AND task_id = $2", TENANT, task_id
    )
    assert dict(task) == {
        "status": "COMPLETED",
        "response": {"approved": True, "comment": "first"},
        "completed_by": "ann",
    }


async def test_a_task_committed_completed_is_never_reopened_nor_overwritten_by_a_projection(
    db_pool: asyncpg.Pool,
) -> None:
    run_id, task_id = str(uuid.uuid4()), str(uuid.uuid4())
    await db_pool.execute(
        "INSERT INTO workflow_runs (tenant, run_id, workflow_id, workflow_version, status, trigger)"
        " VALUES ($1, $2, 'w', 1, 'WAITING', 'manual')",
        TENANT,
        run_id,
    )
    opened = TaskRecord(task_id=task_id, seq=0, step_path="root.steps[0]", status="OPEN", task_type="t", title="T")

    async def project(task: TaskRecord) -> None:
        async with db_pool.acquire() as conn:
            await projections.apply(
                conn, Projection(tenant=TENANT, run_id=run_id, tasks=[task]), redactor=Redactor.keys_only()
            )

    async def row() -> dict[str, Any]:
        found = await db_pool.fetchrow(
            "SELECT status, response, completed_by, completed_at FROM workflow_tasks"
            " WHERE tenant = $1 AND task_id = $2",
            TENANT,
            task_id,
        )
        assert found is not None
        return dict(found)

    await project(opened)
    assert (await row())["status"] == "OPEN"
    # What the service commits before it signals the run.
    committed_at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    await db_pool.execute(
        "UPDATE workflow_tasks SET status = 'COMPLETED', response = $3, completed_by = 'ann', completed_at = $4"
        " WHERE tenant = $1 AND task_id = $2",
        TENANT,
        task_id,
        {"approved": True},
        committed_at,
    )
    committed = await row()

    later = committed_at + timedelta(hours=1)
    await project(opened)  # a late re-projection of the task as it was opened
    await project(
        opened.model_copy(
            update={
                "status": "COMPLETED",
                "response": {"approved": False},
                "completed_by": "bob",
                "completed_at": later,
            }
        )
    )
    await project(opened.model_copy(update={"status": "TIMED_OUT", "completed_at": later}))

    assert await row() == committed
    assert committed == {
        "status": "COMPLETED",
        "response": {"approved": True},
        "completed_by": "ann",
        "completed_at": committed_at,
    }
