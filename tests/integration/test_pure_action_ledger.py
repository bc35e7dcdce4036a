"""A pure action runs before its ledger row exists: the row, its result and the projection come in one write.

Running a pure action again has no effect outside the run, so it needs no STARTED claim; what must still
hold is the ledger's promise (a key that succeeded hands back its first output), its log lines keyed once,
the projection written with it, and heartbeats while it is slow.
"""

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from pydantic import BaseModel, ConfigDict
from temporalio.testing import ActivityEnvironment

from engine.actions.base import ActionContext, ActionSpec
from engine.actions.registry import default_registry
from engine.interpreter.effects import ActionSucceeded, RunAction, StepRecord
from engine.temporal import activities as activities_module
from engine.temporal.activities import Activities
from engine.temporal.contracts import ActionRequest, Projection, RunPatch

TENANT = "pure-ledger"


def request(run_id: str, key: str, action: str, action_input: dict[str, Any], *, steps: int = 0) -> ActionRequest:
    started = datetime(2026, 1, 1, tzinfo=UTC)
    records = [
        StepRecord(
            seq=n,
            attempt=1,
            path=f"root.steps[{n}]",
            step_id=f"s{n}",
            step_type="action.call",
            status="SUCCEEDED",
            started_at=started,
            completed_at=started,
        )
        for n in range(1, steps + 1)
    ]
    effect = RunAction(
        seq=steps + 1,
        attempt=1,
        path=f"root.steps[{steps + 1}]",
        step_id="pure",
        action=action,
        version=1,
        input=action_input,
        idempotency_key=key,
    )
    projection = Projection(
        tenant=TENANT, run_id=run_id, steps=records, run=RunPatch(status="RUNNING", step_count=steps)
    )
    return ActionRequest(tenant=TENANT, run_id=run_id, workflow_id="wf", action=effect, projection=projection)


async def ledger_row(pool: asyncpg.Pool, key: str) -> dict[str, Any]:
    row = await pool.fetchrow(
        "SELECT attempt, status, output_json FROM workflow_action_invocations"
        " WHERE tenant = $1 AND idempotency_key = $2",
        TENANT,
        key,
    )
    assert row is not None
    return dict(row)


async def test_a_pure_action_writes_its_ledger_row_with_its_result_and_the_projection(db_pool: asyncpg.Pool) -> None:
    activities = Activities(pool=db_pool, registry=default_registry())
    beats: list[Any] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details)
    run_id = str(uuid.uuid4())
    await db_pool.execute(
        """INSERT INTO workflow_runs (tenant, run_id, workflow_id, workflow_version, status, trigger, definition_hash)
           VALUES ($1, $2, 'wf', 1, 'RUNNING', 'manual', 'h')""",
        TENANT,
        run_id,
    )
    outcome = await env.run(activities.run_action, request(run_id, "p-1", "core.echo", {"n": 1}, steps=2))
    assert outcome == ActionSucceeded(output={"n": 1})
    assert await ledger_row(db_pool, "p-1") == {"attempt": 1, "status": "SUCCEEDED", "output_json": {"n": 1}}
    steps = await db_pool.fetchval(
        "SELECT count(*) FROM workflow_run_steps WHERE tenant = $1 AND run_id = $2", TENANT, run_id
    )
    assert steps == 2
    assert await db_pool.fetchval("SELECT step_count FROM workflow_runs WHERE run_id = $1", run_id) == 2
    assert beats == []  # an action done at once sends no heartbeat to the server


async def test_a_redelivered_pure_attempt_hands_back_the_first_output(db_pool: asyncpg.Pool) -> None:
    activities = Activities(pool=db_pool, registry=default_registry())
    env = ActivityEnvironment()
    run_id = str(uuid.uuid4())
    first = await env.run(activities.run_action, request(run_id, "p-2", "core.echo", {"n": 1}))
    # The same key again (a redelivered attempt), even with another input: the stored output wins.
    again = await env.run(activities.run_action, request(run_id, "p-2", "core.echo", {"n": 2}))
    assert first == again == ActionSucceeded(output={"n": 1})
    assert await ledger_row(db_pool, "p-2") == {"attempt": 1, "status": "SUCCEEDED", "output_json": {"n": 1}}


async def test_a_pure_actions_log_lines_are_written_once_with_its_ledger_row(db_pool: asyncpg.Pool) -> None:
    activities = Activities(pool=db_pool, registry=default_registry())
    env = ActivityEnvironment()
    run_id = str(uuid.uuid4())
    for _ in range(2):
        outcome = await env.run(activities.run_action, request(run_id, "p-3", "core.log", {"message": "hello"}))
        assert outcome == ActionSucceeded(output={"logged": True})
    rows = await db_pool.fetch(
        """SELECT l.message, l.line_no, l.invocation_id = i.id AS keyed
             FROM workflow_run_logs l JOIN workflow_action_invocations i
               ON i.tenant = l.tenant AND i.idempotency_key = 'p-3'
            WHERE l.tenant = $1 AND l.run_id = $2""",
        TENANT,
        run_id,
    )
    assert [dict(r) for r in rows] == [{"message": "hello", "line_no": 1, "keyed": True}]


class _AnyModel(BaseModel):
    model_config = ConfigDict(extra="allow")


async def _slow(ctx: ActionContext, data: _AnyModel) -> _AnyModel:
    await asyncio.sleep(0.35)
    assert ctx.db is not None
    # What the read-model shows while the action is still running.
    seen = await ctx.db.fetchval("SELECT count(*) FROM workflow_run_steps WHERE run_id = $1", ctx.run_id)
    return _AnyModel(seen=seen)


async def test_a_slow_pure_action_heartbeats_and_has_its_projection_written_while_it_runs(
    db_pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(activities_module, "HEARTBEAT_EVERY", 0.1)
    monkeypatch.setattr(activities_module, "PROJECT_EARLY_AFTER", 0.05)
    registry = default_registry()
    registry.register(
        ActionSpec(
            name="test.slow",
            version=1,
            description="sleeps",
            input_model=_AnyModel,
            output_model=_AnyModel,
            handler=_slow,
            pure=True,
        )
    )
    activities = Activities(pool=db_pool, registry=registry)
    beats: list[Any] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details)
    run_id = str(uuid.uuid4())
    await db_pool.execute(
        """INSERT INTO workflow_runs (tenant, run_id, workflow_id, workflow_version, status, trigger, definition_hash)
           VALUES ($1, $2, 'wf', 1, 'RUNNING', 'manual', 'h')""",
        TENANT,
        run_id,
    )
    outcome = await env.run(activities.run_action, request(run_id, "p-4", "test.slow", {}, steps=1))
    assert outcome == ActionSucceeded(output={"seen": 1})
    assert 2 <= len(beats) <= 4
    assert await ledger_row(db_pool, "p-4") == {"attempt": 1, "status": "SUCCEEDED", "output_json": {"seen": 1}}
