"""A run's wait projections (the wait opened, then resolved with the run's end) are one statement each (issue 16).

A run reacting to an event writes its resolved wait, its last steps and its run row SUCCEEDED: one round trip
and one commit instead of BEGIN, the wait upsert, the run update and COMMIT. Counted with asyncpg's query
logger, never timed; the rows are checked to be what the statement-per-table path wrote.
"""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from engine.interpreter.effects import StepRecord
from engine.redaction import Redactor
from engine.services.context import ServiceContext
from engine.store import projections
from engine.temporal.contracts import NonMatch, Projection, RunPatch, WaitRecord
from tests.helpers import publish_examples

T0 = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)

WAIT_ROW = """
SELECT status, event_name, correlation_key, filters, timeout_at, payload, resolved_at, matched_event_id, non_match
  FROM workflow_run_waits WHERE tenant = $1 AND run_id = $2 AND seq = $3
"""
_INTROSPECTION = ("typeinfo_tree", "set_config('jit'", "current_setting('jit')")
RUN_ROW = "SELECT status, output_json, completed_at, step_count FROM workflow_runs WHERE tenant = $1 AND run_id = $2"


async def _run_row(services: ServiceContext) -> str:
    """A run row of examples/event_wait.json that no workflow drives: the test writes its projections itself."""
    await publish_examples(services, "event_wait")
    version = await services.pool.fetchval(
        "SELECT version FROM workflow_definition_versions WHERE tenant = $1 AND workflow_id = 'event-wait'",
        services.tenant,
    )
    run_id = str(uuid.uuid4())
    await services.pool.execute(
        """INSERT INTO workflow_runs (tenant, run_id, workflow_id, workflow_version, status, trigger, definition_hash)
           VALUES ($1, $2, 'event-wait', $3, 'RUNNING', 'manual', $4)""",
        services.tenant,
        run_id,
        version,
        "f" * 64,
    )
    return run_id


async def _apply_counting(conn: asyncpg.Connection, projection: Projection) -> int:
    """Apply ``projection`` on ``conn`` and return how many statements reached Postgres.

    asyncpg's own type lookups (once per connection and statement, then cached) are not the projection's.
    """
    seen: list[str] = []

    def log(query: asyncpg.connection.LoggedQuery) -> None:
        if not any(marker in query.query for marker in _INTROSPECTION):
            seen.append(query.query)

    conn.add_query_logger(log)
    try:
        await projections.apply(conn, projection, redactor=Redactor.keys_only())
        await asyncio.sleep(0)  # asyncpg calls the logger with call_soon
    finally:
        conn.remove_query_logger(log)
    return len(seen)


def _wait(**update: object) -> WaitRecord:
    opened = WaitRecord(
        seq=2,
        step_path="/steps/1",
        wait_type="event",
        status="WAITING",
        event_name="ticket.approved",
        correlation_key="T-1",
        filters=[{"path": "payload.amount", "op": ">", "value": 100}],
        timeout_at=T0 + timedelta(hours=1),
    )
    return opened.model_copy(update=update)


async def test_opening_and_resolving_a_wait_are_one_statement_each(services: ServiceContext) -> None:
    run_id = await _run_row(services)
    tenant = services.tenant
    step = StepRecord(
        seq=2, attempt=1, path="/steps/1", step_id="wait", step_type="event.wait", status="STARTED", started_at=T0
    )
    opened = Projection(
        tenant=tenant,
        run_id=run_id,
        steps=[step],
        waits=[_wait()],
        run=RunPatch(status="WAITING", current_step_path="/steps/1", step_count=2),
    )
    non_match = NonMatch(event_id="e-0", reason="payload.amount > 100 was 50", at=T0 + timedelta(seconds=1))
    resolved = Projection(
        tenant=tenant,
        run_id=run_id,
        steps=[step.model_copy(update={"status": "SUCCEEDED", "completed_at": T0 + timedelta(seconds=2)})],
        waits=[
            _wait(
                status="RESOLVED",
                payload={"amount": 500, "by": "ana"},
                resolved_at=T0 + timedelta(seconds=2),
                matched_event_id="e-1",
                non_match=non_match,
            )
        ],
        run=RunPatch(status="SUCCEEDED", output={"ok": True}, step_count=2, completed_at=T0 + timedelta(seconds=2)),
    )
    async with services.pool.acquire() as conn:
        assert await _apply_counting(conn, opened) == 1
        wait = await conn.fetchrow(WAIT_ROW, tenant, run_id, 2)
        assert wait is not None and wait["status"] == "WAITING" and wait["payload"] is None
        assert wait["filters"] == [{"path": "payload.amount", "op": ">", "value": 100}]
        assert wait["non_match"] is None and wait["timeout_at"] == T0 + timedelta(hours=1)
        assert (await conn.fetchrow(RUN_ROW, tenant, run_id))["status"] == "WAITING"

        assert await _apply_counting(conn, resolved) == 1
        wait = await conn.fetchrow(WAIT_ROW, tenant, run_id, 2)
        assert wait is not None and wait["status"] == "RESOLVED"
        assert wait["payload"] == {"amount": 500, "by": "ana"} and wait["matched_event_id"] == "e-1"
        assert wait["resolved_at"] == T0 + timedelta(seconds=2)
        assert wait["non_match"] == non_match.model_dump(mode="json")
        run = await conn.fetchrow(RUN_ROW, tenant, run_id)
        assert run["status"] == "SUCCEEDED" and run["output_json"] == {"ok": True}

        # A late or redelivered opening projection changes nothing: a closed wait never goes back to open.
        await projections.apply(conn, opened.model_copy(update={"run": None}), redactor=Redactor.keys_only())
        wait = await conn.fetchrow(WAIT_ROW, tenant, run_id, 2)
        assert wait is not None and wait["status"] == "RESOLVED" and wait["matched_event_id"] == "e-1"


async def test_a_wait_listed_twice_still_writes_through_statements_of_its_own(services: ServiceContext) -> None:
    run_id = await _run_row(services)
    # Postgres refuses to upsert one row twice in a statement: such a projection takes the transaction path.
    twice = Projection(
        tenant=services.tenant,
        run_id=run_id,
        waits=[_wait(), _wait(status="TIMED_OUT", resolved_at=T0 + timedelta(hours=1))],
        run=RunPatch(status="RUNNING"),
    )
    assert not projections.waits_in_one_statement(twice)
    async with services.pool.acquire() as conn:
        assert await _apply_counting(conn, twice) > 1
        wait = await conn.fetchrow(WAIT_ROW, services.tenant, run_id, 2)
    assert wait is not None and wait["status"] == "TIMED_OUT"
