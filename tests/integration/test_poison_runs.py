"""Runs that carry what Postgres or the converter cannot hold end FAILED with the reason; faults that heal heal.

Every case runs on the session's embedded Postgres and Temporal dev server with the real worker.
"""

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from engine.actions.registry import default_registry
from engine.services.context import ServiceContext
from engine.services.launch import launch_run
from engine.services.publish import publish_definition
from engine.store import definitions, runs
from engine.temporal import TASK_QUEUE, WORKFLOW_NAME, workflow_id_for_run
from engine.temporal.activities import Activities
from engine.temporal.contracts import FailRunRequest, RunInput
from tests.helpers import wait_for_run

NUL_ASSIGN = {"id": "poison", "type": "state.assign", "assign": {"vars.bad": {"$expr": '$base64decode("AA==")'}}}


async def publish(services: ServiceContext, workflow_id: str, steps: list[dict[str, Any]]) -> None:
    await publish_definition(services, {"id": workflow_id, "version": 1, "name": workflow_id, "steps": steps})


async def local_activity_attempts(client: Client, run_id: str) -> list[tuple[str, int, bool]]:
    """``(activity type, attempt, failed)`` of each local activity the run's history recorded, in order."""
    history = await client.get_workflow_handle(workflow_id_for_run(run_id)).fetch_history()
    attempts: list[tuple[str, int, bool]] = []
    for event in history.events:
        marker = event.marker_recorded_event_attributes
        # Other markers (workflow.patched's) carry no attempt.
        if event.HasField("marker_recorded_event_attributes") and marker.marker_name == "core_local_activity":
            data = json.loads(marker.details["data"].payloads[0].data)
            attempts.append((data["activity_type"], data["attempt"], marker.HasField("failure")))
    return attempts


async def workflow_failure(client: Client, run_id: str) -> ApplicationError:
    """The ApplicationError the run's workflow failed with (it must have failed)."""
    with pytest.raises(WorkflowFailureError) as caught:
        await client.get_workflow_handle(workflow_id_for_run(run_id)).result()
    cause = caught.value.cause
    assert isinstance(cause, ApplicationError), cause
    return cause


async def test_a_nul_built_by_an_expression_fails_the_run_with_a_projection_error(
    services: ServiceContext, temporal_client: Client
) -> None:
    await publish(
        services,
        "nul-vars",
        [
            {"id": "before", "type": "state.assign", "assign": {"vars.ok": True}},
            {"id": "nap", "type": "time.wait", "durationMs": 50},
            NUL_ASSIGN,
            {"id": "unreached", "type": "state.assign", "assign": {"vars.unreached": True}},
        ],
    )
    run_id = await launch_run(services, workflow_id="nul-vars", payload={})

    detail = await wait_for_run(services, run_id, timeout=15)

    assert detail.status == "FAILED"
    assert detail.completed_at is not None
    assert detail.error is not None
    assert detail.error["category"] == "ProjectionError"
    assert "22P05" in detail.error["message"]
    assert "\x00" not in json.dumps(detail.error)
    # The wait that was open when the projection failed is closed by the last-resort projection.
    assert [(w.step_path, w.status) for w in detail.waits] == [("root.steps[1]", "CANCELED")]
    cause = await workflow_failure(temporal_client, run_id)
    assert cause.type == "ProjectionError"
    assert "22P05" in cause.message
    assert cause.non_retryable
    # Failed at once, not after retries (counted in attempts, not timed): the projection that met the NUL
    # failed on its first attempt, and the last-resort projection ran next.
    attempts = await local_activity_attempts(temporal_client, run_id)
    assert attempts[-2:] == [("project", 1, True), ("fail_run", 1, False)], attempts


async def test_a_human_task_without_description_or_context_data_waits_with_its_task_row(
    services: ServiceContext,
) -> None:
    await publish(
        services,
        "bare-task",
        [{"id": "ask", "type": "human.task", "taskType": "approve", "title": "Approve?", "saveAs": "vars.answer"}],
    )
    run_id = await launch_run(services, workflow_id="bare-task", payload={})

    detail = await wait_for_run(services, run_id, frozenset({"WAITING", "FAILED", "SUCCEEDED"}), timeout=15)

    assert detail.status == "WAITING", detail.error
    row = await services.pool.fetchrow(
        "SELECT status, title, description, context_data, form_schema FROM workflow_tasks"
        " WHERE tenant = $1 AND run_id = $2",
        services.tenant,
        run_id,
    )
    assert row is not None
    assert dict(row) == {
        "status": "OPEN",
        "title": "Approve?",
        "description": None,
        "context_data": None,
        "form_schema": {},
    }
    assert [(w.wait_type, w.status) for w in detail.waits] == [("human", "WAITING")]


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": True}
    for _ in range(depth):
        value = {"n": value}
    return value


async def test_a_payload_too_deep_for_the_converter_fails_the_run_with_a_load_error(
    services: ServiceContext, temporal_client: Client
) -> None:
    await publish(services, "deep-input", [{"id": "noop", "type": "state.assign", "assign": {"vars.x": 1}}])
    version = await definitions.get_version(services.pool, tenant=services.tenant, workflow_id="deep-input", version=1)
    assert version is not None
    run_id = str(uuid.uuid4())
    # Straight into the table: the services refuse such a payload before it gets this far.
    await runs.insert_run(
        services.pool,
        tenant=services.tenant,
        run_id=run_id,
        version=version,
        payload=nested(300),
        trigger="manual",
        keyring=services.keyring,
    )
    await temporal_client.start_workflow(
        WORKFLOW_NAME,
        RunInput(tenant=services.tenant, run_id=run_id),
        id=workflow_id_for_run(run_id),
        task_queue=TASK_QUEUE,
    )

    detail = await wait_for_run(services, run_id, timeout=15)

    assert detail.status == "FAILED"
    assert detail.error is not None
    assert detail.error["category"] == "LoadError"
    assert "serializ" in detail.error["message"]
    assert len(detail.error["message"]) <= 500
    assert detail.steps == []
    cause = await workflow_failure(temporal_client, run_id)
    assert cause.type == "LoadError"


async def test_a_transient_projection_fault_heals_and_the_run_succeeds(
    services: ServiceContext, engine_pool: asyncpg.Pool
) -> None:
    # The first two step writes of this tenant meet "the database system is starting up" (57P03).
    name = f"fault_{uuid.uuid4().hex[:8]}"
    await engine_pool.execute(f"CREATE SEQUENCE {name}")
    await engine_pool.execute(
        f"""
        CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.tenant = '{services.tenant}' AND nextval('{name}') <= 2 THEN
                RAISE EXCEPTION 'the database system is starting up' USING ERRCODE = '57P03';
            END IF;
            RETURN NEW;
        END $$
        """
    )
    await engine_pool.execute(
        f"CREATE TRIGGER {name} BEFORE INSERT ON workflow_run_steps FOR EACH ROW EXECUTE FUNCTION {name}()"
    )
    try:
        await publish(
            services,
            "heals",
            [
                {"id": "one", "type": "state.assign", "assign": {"vars.one": 1}},
                {"id": "two", "type": "state.assign", "assign": {"vars.two": 2}},
            ],
        )
        run_id = await launch_run(services, workflow_id="heals", payload={})

        detail = await wait_for_run(services, run_id, timeout=20)
    finally:
        await engine_pool.execute(f"DROP TRIGGER {name} ON workflow_run_steps")
        await engine_pool.execute(f"DROP FUNCTION {name}()")
        hits = await engine_pool.fetchval(f"SELECT last_value FROM {name}")
        await engine_pool.execute(f"DROP SEQUENCE {name}")

    assert detail.status == "SUCCEEDED", detail.error
    assert detail.error is None
    assert detail.vars == {"one": 1, "two": 2}
    assert [(s.step_id, s.status) for s in detail.steps] == [("one", "SUCCEEDED"), ("two", "SUCCEEDED")]
    assert hits >= 3  # two refused writes, then the ones that went through


async def test_state_nested_too_deep_by_expressions_fails_the_run_with_a_projection_error(
    services: ServiceContext, temporal_client: Client
) -> None:
    # Each iteration wraps vars.d once more: soon deeper than the data converter can carry.
    await publish(
        services,
        "deep-vars",
        [
            {"id": "init", "type": "state.assign", "assign": {"vars.d": {"leaf": True}}},
            {"id": "log", "type": "action.call", "action": "core.log", "version": 1, "input": {"message": "start"}},
            {
                "id": "wrap",
                "type": "control.forEach",
                "items": {"$expr": "[1..230]"},
                "body": [{"id": "deeper", "type": "state.assign", "assign": {"vars.d": {"w": {"$expr": "vars.d"}}}}],
            },
        ],
    )
    run_id = await launch_run(services, workflow_id="deep-vars", payload={})

    detail = await wait_for_run(services, run_id, timeout=30)

    assert detail.status == "FAILED"
    assert detail.error is not None
    assert detail.error["category"] == "ProjectionError"
    assert "cannot cross the Temporal boundary" in detail.error["message"]
    assert [line.message for line in detail.logs] == ["start"]
    cause = await workflow_failure(temporal_client, run_id)
    assert cause.type == "ProjectionError"


async def test_a_nul_in_an_action_input_fails_the_run_with_a_ledger_error(
    services: ServiceContext, temporal_client: Client
) -> None:
    await publish(
        services,
        "nul-input",
        [
            {
                "id": "echo",
                "type": "action.call",
                "action": "core.echo",
                "version": 1,
                "input": {"text": {"$expr": '"a" & $base64decode("AA==") & "b"'}},
            }
        ],
    )
    run_id = await launch_run(services, workflow_id="nul-input", payload={})

    detail = await wait_for_run(services, run_id, timeout=15)

    assert detail.status == "FAILED"
    assert detail.error is not None
    assert detail.error["category"] == "LedgerError"
    assert detail.error["stepPath"] == "root.steps[0]"
    assert "22P05" in detail.error["message"]
    assert detail.invocations == []  # the ledger claim was refused with the rest of its transaction
    cause = await workflow_failure(temporal_client, run_id)
    assert cause.type == "LedgerError"


async def test_the_last_resort_projection_stores_a_sanitised_error_and_closes_what_was_open(
    services: ServiceContext,
) -> None:
    run_id, task_id = str(uuid.uuid4()), str(uuid.uuid4())
    pool = services.pool
    await pool.execute(
        "INSERT INTO workflow_runs (tenant, run_id, workflow_id, workflow_version, status, trigger)"
        " VALUES ($1, $2, 'w', 1, 'WAITING', 'manual')",
        services.tenant,
        run_id,
    )
    await pool.execute(
        "INSERT INTO workflow_run_waits (tenant, run_id, seq, step_path, wait_type, status)"
        " VALUES ($1, $2, 0, 'root.steps[0]', 'human', 'WAITING')",
        services.tenant,
        run_id,
    )
    await pool.execute(
        "INSERT INTO workflow_tasks (tenant, task_id, run_id, seq, step_path, task_type, title, status)"
        " VALUES ($1, $2, $3, 0, 'root.steps[0]', 't', 'T', 'OPEN')",
        services.tenant,
        task_id,
        run_id,
    )
    at = datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)
    poison = {
        "category": "Projection\x00Error",
        "message": "bad \x00 \ud800 \u202e" + "x" * 5000,
        "stepPath": "root.steps[0]",
        "extra": {"nested": "\x00"},
    }
    activities = Activities(pool=pool, registry=default_registry())

    await activities.fail_run(FailRunRequest(tenant=services.tenant, run_id=run_id, error=poison, completed_at=at))
    # Delivered again (a retry after the write): the run keeps its first ending.
    await activities.fail_run(
        FailRunRequest(
            tenant=services.tenant, run_id=run_id, error={"category": "Other", "message": "later"}, completed_at=at
        )
    )

    run = await pool.fetchrow(
        "SELECT status, error_json, completed_at FROM workflow_runs WHERE tenant = $1 AND run_id = $2",
        services.tenant,
        run_id,
    )
    assert run is not None
    assert run["status"] == "FAILED"
    assert run["completed_at"] == at
    error = run["error_json"]
    assert set(error) == {"category", "message", "stepPath"}
    assert error["category"] == "Projection\N{REPLACEMENT CHARACTER}Error"
    assert error["message"].startswith(
        "bad \N{REPLACEMENT CHARACTER} \N{REPLACEMENT CHARACTER} \N{REPLACEMENT CHARACTER}"
    )
    assert len(error["message"]) == 500
    wait_status = await pool.fetchval(
        "SELECT status FROM workflow_run_waits WHERE tenant = $1 AND run_id = $2", services.tenant, run_id
    )
    task_status = await pool.fetchval(
        "SELECT status FROM workflow_tasks WHERE tenant = $1 AND task_id = $2", services.tenant, task_id
    )
    assert (wait_status, task_status) == ("CANCELED", "CANCELED")
