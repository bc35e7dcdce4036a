"""Built-ins are once per attempt: a redelivered core.log writes one line, notify.outbox returns its own row.

The fault is real and deterministic: a trigger makes Postgres refuse the first recording of each action's
success with a serialization failure (40001, transient), so Temporal redelivers the attempt after the
action already ran.
"""

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from engine.actions.base import ActionContext, invoke
from engine.actions.builtin.outbox import NOTIFY_OUTBOX
from engine.services.context import ServiceContext
from engine.services.launch import launch_run
from engine.services.publish import publish_definition
from tests.helpers import wait_for_run

DEFINITION = {
    "id": "once",
    "version": 1,
    "name": "once",
    "steps": [
        {"id": "say", "type": "action.call", "action": "core.log", "version": 1,
         "input": {"message": "said once", "level": "info"}},
        {"id": "notify", "type": "action.call", "action": "notify.outbox", "version": 1,
         "input": {"topic": "ticket.closed", "payload": {"ticket": "T-1"}}, "saveAs": "vars.sent"},
    ],
}  # fmt: skip


@pytest.fixture
async def finish_fails_once_per_action(services: ServiceContext, engine_pool: asyncpg.Pool) -> AsyncIterator[str]:
    """Every first attempt to record an action's success for this tenant fails; the retry succeeds.

    On INSERT too: a pure action's success is recorded by inserting its ledger row.
    """
    name = f"fault_{uuid.uuid4().hex[:8]}"
    await engine_pool.execute(f"CREATE SEQUENCE {name}")
    await engine_pool.execute(
        f"""
        CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.tenant = '{services.tenant}' AND NEW.status = 'SUCCEEDED' AND nextval('{name}') % 2 = 1 THEN
                RAISE EXCEPTION 'could not serialize access' USING ERRCODE = '40001';
            END IF;
            RETURN NEW;
        END $$
        """
    )
    await engine_pool.execute(
        f"CREATE TRIGGER {name} BEFORE INSERT OR UPDATE ON workflow_action_invocations"
        f" FOR EACH ROW EXECUTE FUNCTION {name}()"
    )
    try:
        yield name
    finally:
        await engine_pool.execute(f"DROP TRIGGER {name} ON workflow_action_invocations")
        await engine_pool.execute(f"DROP FUNCTION {name}()")
        await engine_pool.execute(f"DROP SEQUENCE {name}")


async def test_a_redelivered_attempt_logs_once_and_notify_returns_its_own_row(
    services: ServiceContext, engine_pool: asyncpg.Pool, finish_fails_once_per_action: str
) -> None:
    await publish_definition(services, DEFINITION)

    run_id = await launch_run(services, workflow_id="once", payload={})
    detail = await wait_for_run(services, run_id, timeout=30)

    assert detail.status == "SUCCEEDED", detail.error
    # Each action ran twice (its success was refused once). notify.outbox (impure) was claimed before it ran, so
    # its row counts both attempts; core.log (pure) is recorded with its result after it ran, so the refused
    # recording rolled back with its row and its held log line, and the row counts the attempt that landed.
    assert [(i.action, i.attempt, i.status) for i in detail.invocations] == [
        ("core.log", 1, "SUCCEEDED"),
        ("notify.outbox", 2, "SUCCEEDED"),
    ]
    refused = await engine_pool.fetchval(f"SELECT last_value FROM {finish_fails_once_per_action}")
    assert refused == 4  # two refusals, two recorded successes
    assert [(line.step_path, line.level, line.message) for line in detail.logs] == [
        ("root.steps[0]", "info", "said once")
    ]
    outbox = await engine_pool.fetch(
        "SELECT id, payload FROM workflow_notify_outbox WHERE tenant = $1 AND run_id = $2", services.tenant, run_id
    )
    assert len(outbox) == 1
    assert outbox[0]["payload"] == {"ticket": "T-1"}
    assert detail.vars["sent"] == {"outboxId": outbox[0]["id"], "duplicate": False}
    assert detail.invocations[1].output == {"outboxId": outbox[0]["id"], "duplicate": False}


async def test_notify_outbox_tells_its_own_row_from_another_invocations(db_pool: asyncpg.Pool) -> None:
    run_id = str(uuid.uuid4())

    def ctx(invocation_id: int | None) -> ActionContext:
        return ActionContext(
            tenant="acme",
            run_id=run_id,
            workflow_id="w",
            step_path="root.steps[0]",
            step_id="notify",
            attempt=1,
            idempotency_key="shared-key",
            db=db_pool,
            log=_no_log,
            http_allowed_hosts=frozenset(),
            invocation_id=invocation_id,
        )

    data = {"topic": "t", "payload": {"n": 1}}
    first = await invoke(NOTIFY_OUTBOX, ctx(7), data)
    again = await invoke(NOTIFY_OUTBOX, ctx(7), data)  # the same invocation, redelivered
    other = await invoke(NOTIFY_OUTBOX, ctx(8), data)  # another invocation that reuses the key
    outside = await invoke(NOTIFY_OUTBOX, ctx(None), data)  # no ledger at all

    row_id = await db_pool.fetchval("SELECT id FROM workflow_notify_outbox WHERE idempotency_key = 'shared-key'")
    assert first == again == {"outboxId": row_id, "duplicate": False}
    assert other == outside == {"outboxId": None, "duplicate": True}
    assert await db_pool.fetchval("SELECT count(*) FROM workflow_notify_outbox") == 1


async def _no_log(level: str, message: str) -> None:
    return None
