"""Cancel tells the truth (issue 9, item 4), on real Postgres + Temporal.

A run Temporal already closed is not cancelable, with Temporal's status, and nothing claims a cancel; a
cancel Temporal accepted while no worker runs is visible (``cancel_requested_at``/``by`` in the read-model,
``show``/``runs`` JSON), a second one says it was already requested, and a worker then unwinds the run.
"""

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from engine.services.audit import Actor
from engine.services.cancel import cancel_run, cancel_runs
from engine.services.context import ServiceContext
from engine.services.runs import get_run_detail, list_runs
from engine.stack import Endpoints
from engine.temporal import workflow_id_for_run
from tests.helpers import publish_examples, wait_for_run
from tests.integration.test_cancel import read_model, runstudio, start_waiting, temporal_status

ONCALL = Actor(user="oncall", source="ssh:10.0.0.7")
OTHER = Actor(user="mo", source="ssh:10.0.0.8")
WHEN = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"


@asynccontextmanager
async def running_worker(client: Client, pool: asyncpg.Pool) -> AsyncIterator[None]:
    """A worker of the project on the run queue, for as long as the block lasts."""
    from engine.actions.registry import default_registry
    from engine.temporal.activities import Activities
    from worker.main import build_worker

    async with build_worker(client, Activities(pool=pool, registry=default_registry())):
        yield


async def cancel_audits(services: ServiceContext, run_id: str) -> list[dict[str, Any]]:
    rows = await services.pool.fetch(
        "SELECT actor, source, details FROM workflow_run_audit WHERE tenant = $1 AND run_id = $2 AND action = 'cancel'",
        services.tenant,
        run_id,
    )
    return [dict(r) for r in rows]


async def test_a_run_terminated_in_temporal_is_not_cancelable_and_nothing_claims_a_cancel(
    services: ServiceContext, temporal_client: Client
) -> None:
    await publish_examples(services, "timer")
    run_id = await start_waiting(services)
    await temporal_client.get_workflow_handle(workflow_id_for_run(run_id)).terminate(reason="operator drill")
    before = await read_model(services, run_id)
    assert before["run"][0]["status"] == "WAITING"  # nothing projected the termination

    outcome = await cancel_run(services, run_id, actor=ONCALL)

    assert outcome.outcome == "not_cancelable"
    assert outcome.status_before == "WAITING"
    assert outcome.reason is not None and "already TERMINATED in Temporal" in outcome.reason
    assert workflow_id_for_run(run_id) in outcome.reason
    assert await read_model(services, run_id) == before  # no audit row, run row untouched
    assert before["run"][0]["cancel_requested_at"] is None
    assert await temporal_status(services, run_id) == WorkflowExecutionStatus.TERMINATED

    # The command says so too, and a run that is merely over is not a failure of the command.
    result = await runstudio(services, "cancel", run_id)
    assert result.returncode == 0, result.stderr
    first, total = result.stdout.splitlines()
    assert first.startswith(f"{run_id}  not cancelable: ") and "already TERMINATED in Temporal" in first
    assert total == "total 1: 0 canceled, 0 refused, 1 not cancelable"
    assert "1 canceled" not in result.stdout
    assert await read_model(services, run_id) == before


async def test_a_cancel_no_worker_has_applied_is_visible_and_not_repeated(
    private_temporal: WorkflowEnvironment, db_pool: asyncpg.Pool, migrated_database_url: str
) -> None:
    client = private_temporal.client
    endpoints = Endpoints(migrated_database_url, client.service_client.config.target_host, "default")
    ctx = ServiceContext(db_pool, endpoints, "pending-cancel", _client=client)
    await publish_examples(ctx, "timer")
    async with running_worker(client, db_pool):
        run_id = await start_waiting(ctx)
    # No worker from here on: Temporal accepts the cancel, but nothing unwinds the run.

    outcome = await cancel_run(ctx, run_id, actor=ONCALL)

    assert (outcome.outcome, outcome.reason, outcome.status_before) == ("canceled", None, "WAITING")
    detail = await get_run_detail(ctx, run_id)
    assert detail.status == "WAITING"
    assert detail.cancel_requested_at is not None and detail.cancel_requested_by == "oncall"
    assert await cancel_audits(ctx, run_id) == [
        {
            "actor": "oncall",
            "source": "ssh:10.0.0.7",
            "details": {"statusBefore": "WAITING", "temporalWorkflowId": workflow_id_for_run(run_id)},
        }
    ]
    [summary] = await list_runs(ctx)
    assert (summary.cancel_requested_at, summary.cancel_requested_by) == (detail.cancel_requested_at, "oncall")

    again = await cancel_run(ctx, run_id, actor=OTHER)

    assert again.outcome == "already_requested"
    assert again.reason is not None
    assert re.search(f"already requested at {WHEN} by oncall", again.reason), again.reason
    assert len(await cancel_audits(ctx, run_id)) == 1
    assert (await get_run_detail(ctx, run_id)).cancel_requested_by == "oncall"
    # A bulk cancel counts it as such, not as a new cancel.
    [bulk] = await cancel_runs(ctx, [run_id], actor=OTHER)
    assert bulk.outcome == "already_requested"
    assert len(await cancel_audits(ctx, run_id)) == 1

    # The command line carries it: show --json, runs --json, the table marker and the bulk summary.
    shown = await runstudio(ctx, "show", run_id, "--json")
    assert shown.returncode == 0, shown.stderr
    shown_json = json.loads(shown.stdout)
    assert shown_json["status"] == "WAITING"
    assert datetime.fromisoformat(shown_json["cancel_requested_at"]) == detail.cancel_requested_at
    listed = await runstudio(ctx, "runs", "--json")
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert row["run_id"] == run_id
    assert datetime.fromisoformat(row["cancel_requested_at"]) == detail.cancel_requested_at
    table = await runstudio(ctx, "runs")
    assert "WAITING (cancel requested)" in table.stdout
    text = await runstudio(ctx, "show", run_id)
    assert re.search(f"CANCEL    requested at {WHEN} by oncall; waiting for a worker", text.stdout), text.stdout
    repeated = await runstudio(ctx, "cancel", run_id)
    assert repeated.returncode == 0, repeated.stderr
    assert repeated.stdout.splitlines()[0].startswith(f"{run_id}  already requested: a cancel was already requested")
    assert repeated.stdout.splitlines()[-1] == "total 1: 0 canceled, 0 refused, 0 not cancelable, 1 already requested"
    assert len(await cancel_audits(ctx, run_id)) == 1

    async with running_worker(client, db_pool):
        done = await wait_for_run(ctx, run_id)

    assert done.status == "CANCELED"
    assert done.error is not None and done.error["category"] == "Canceled"
    assert [w.status for w in done.waits] == ["CANCELED"]
    assert done.cancel_requested_at == detail.cancel_requested_at  # kept: when the cancel was asked for
    assert (await runstudio(ctx, "runs")).stdout.count("cancel requested") == 0  # the marker is for open runs
    assert (await cancel_run(ctx, run_id, actor=OTHER)).outcome == "not_cancelable"
    assert len(await cancel_audits(ctx, run_id)) == 1
