"""The worker process as deployed: it also ingests rows other systems INSERT into the event inbox."""

import os
import signal

import asyncpg
from temporalio.testing import WorkflowEnvironment

from engine.services.context import ServiceContext
from engine.services.launch import launch_run
from engine.stack import Endpoints
from engine.store.db import create_pool
from tests.helpers import publish_examples, wait_for_run
from tests.integration.test_crash_safety import start_worker, wait_for_pollers


async def test_an_inbox_row_inserted_by_sql_resumes_a_waiting_run(
    private_temporal: WorkflowEnvironment, migrated_database_url: str
) -> None:
    client = private_temporal.client
    address = client.service_client.config.target_host
    pool: asyncpg.Pool = await create_pool(migrated_database_url)
    ctx = ServiceContext(pool, Endpoints(migrated_database_url, address, "default"), "inbox-e2e", _client=client)
    worker = start_worker(migrated_database_url, address)
    try:
        await wait_for_pollers(client, 1)
        await publish_examples(ctx, "event_wait")
        run_id = await launch_run(ctx, workflow_id="event-wait", payload={"ticketId": "T-77", "minAmount": 1})
        await wait_for_run(ctx, run_id, frozenset({"WAITING"}))
        await pool.execute(
            """INSERT INTO workflow_event_inbox (tenant, event_id, event_name, payload, correlation_key)
               VALUES ('inbox-e2e', 'crm-123', 'ticket.approved', '{"amount": 5, "by": "crm"}', 'T-77')"""
        )
        done = await wait_for_run(ctx, run_id, timeout=30)
        assert done.status == "SUCCEEDED"
        assert done.vars["approvedBy"] == "crm"
        assert [(e.event_id, e.relation) for e in done.events] == [("crm-123", "signaled")]
        processed = await pool.fetchval("SELECT processed_at FROM workflow_event_inbox WHERE event_id = 'crm-123'")
        assert processed is not None
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
        await pool.close()
