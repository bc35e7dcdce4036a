"""The invocation ledger: a redelivered action activity reuses the stored output and runs nothing again."""

import uuid

import asyncpg
from temporalio.testing import ActivityEnvironment

from engine.actions.registry import default_registry
from engine.interpreter.effects import ActionFailed, ActionSucceeded, RunAction
from engine.temporal.activities import Activities
from engine.temporal.contracts import ActionRequest, Projection


def request(run_id: str, key: str, *, action: str = "notify.outbox", attempt: int = 1) -> ActionRequest:
    effect = RunAction(
        seq=1,
        attempt=attempt,
        path="root.steps[0]",
        step_id="notify",
        action=action,
        version=1,
        input={"topic": "t", "payload": {"n": 1}}
        if action == "notify.outbox"
        else {"category": "NetworkError", "message": "down"},
        idempotency_key=key,
    )
    return ActionRequest(
        tenant="ledger",
        run_id=run_id,
        workflow_id="wf",
        action=effect,
        projection=Projection(tenant="ledger", run_id=run_id),
    )


async def test_redelivered_success_returns_stored_output_without_a_second_side_effect(db_pool: asyncpg.Pool) -> None:
    activities = Activities(pool=db_pool, registry=default_registry())
    env = ActivityEnvironment()
    run_id = str(uuid.uuid4())
    first = await env.run(activities.run_action, request(run_id, "k-1"))
    again = await env.run(activities.run_action, request(run_id, "k-1"))
    assert isinstance(first, ActionSucceeded) and isinstance(again, ActionSucceeded)
    assert again.output == first.output
    assert await db_pool.fetchval("SELECT count(*) FROM workflow_notify_outbox WHERE tenant = 'ledger'") == 1
    row = await db_pool.fetchrow(
        "SELECT attempt, status FROM workflow_action_invocations WHERE idempotency_key = 'k-1'"
    )
    assert dict(row) == {"attempt": 1, "status": "SUCCEEDED"}


async def test_failed_attempts_are_retried_under_the_same_key(db_pool: asyncpg.Pool) -> None:
    activities = Activities(pool=db_pool, registry=default_registry())
    env = ActivityEnvironment()
    run_id = str(uuid.uuid4())
    for attempt in (1, 2):
        outcome = await env.run(activities.run_action, request(run_id, "k-2", action="core.fail", attempt=attempt))
        assert isinstance(outcome, ActionFailed)
        assert (outcome.category, outcome.message) == ("NetworkError", "down")
    row = await db_pool.fetchrow(
        "SELECT attempt, status, error_json FROM workflow_action_invocations WHERE idempotency_key = 'k-2'"
    )
    assert row["attempt"] == 2
    assert row["status"] == "FAILED"
    assert row["error_json"]["category"] == "NetworkError"
