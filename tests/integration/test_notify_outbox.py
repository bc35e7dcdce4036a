"""notify.outbox against a real, freshly migrated Postgres (the ``db_pool`` fixture)."""

import json
import uuid
from typing import Any

import asyncpg

from engine.actions.base import ActionContext, invoke
from engine.actions.builtin.outbox import NOTIFY_OUTBOX

RUN_ID = "7f8e0a52-2d4c-4a55-9a43-0c1a4a0b8f11"


async def _no_log(level: str, message: str) -> None:
    return None


def context(
    db: asyncpg.Pool | asyncpg.Connection, *, tenant: str = "acme", idempotency_key: str | None = None
) -> ActionContext:
    return ActionContext(
        tenant=tenant,
        run_id=RUN_ID,
        workflow_id="orders",
        step_path="root.steps[3]",
        step_id="notify",
        attempt=1,
        idempotency_key=idempotency_key,
        db=db,
        log=_no_log,
        http_allowed_hosts=frozenset(),
    )


async def rows(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    records = await pool.fetch(
        "SELECT id, tenant, run_id, step_path, idempotency_key, topic, payload::text AS payload,"
        " created_at, delivered_at FROM workflow_notify_outbox ORDER BY id"
    )
    return [{**dict(r), "payload": json.loads(r["payload"])} for r in records]


async def test_writes_one_row_scoped_to_the_run(db_pool: asyncpg.Pool) -> None:
    payload = {"orderId": 42, "lines": [{"sku": "a", "qty": 2}], "note": "ünïcode"}

    output = await invoke(
        NOTIFY_OUTBOX, context(db_pool, idempotency_key="k1"), {"topic": "order.shipped", "payload": payload}
    )

    [row] = await rows(db_pool)
    assert output == {"outboxId": row["id"], "duplicate": False}
    assert row["tenant"] == "acme"
    assert row["run_id"] == uuid.UUID(RUN_ID)
    assert row["step_path"] == "root.steps[3]"
    assert row["idempotency_key"] == "k1"
    assert row["topic"] == "order.shipped"
    assert row["payload"] == payload
    assert row["created_at"] is not None
    assert row["delivered_at"] is None


async def test_same_idempotency_key_writes_once(db_pool: asyncpg.Pool) -> None:
    ctx = context(db_pool, idempotency_key="run-1:notify")
    first = await invoke(NOTIFY_OUTBOX, ctx, {"topic": "t", "payload": {"n": 1}})

    second = await invoke(NOTIFY_OUTBOX, ctx, {"topic": "t", "payload": {"n": 2}})

    assert first["duplicate"] is False
    assert isinstance(first["outboxId"], int)
    assert second == {"outboxId": None, "duplicate": True}
    assert [row["payload"] for row in await rows(db_pool)] == [{"n": 1}]


async def test_without_an_idempotency_key_every_call_writes(db_pool: asyncpg.Pool) -> None:
    ctx = context(db_pool)

    first = await invoke(NOTIFY_OUTBOX, ctx, {"topic": "t", "payload": {}})
    second = await invoke(NOTIFY_OUTBOX, ctx, {"topic": "t", "payload": {}})

    assert first["outboxId"] != second["outboxId"]
    assert [row["idempotency_key"] for row in await rows(db_pool)] == [None, None]


async def test_idempotency_keys_are_per_tenant(db_pool: asyncpg.Pool) -> None:
    for tenant in ("acme", "globex"):
        output = await invoke(
            NOTIFY_OUTBOX, context(db_pool, tenant=tenant, idempotency_key="k"), {"topic": "t", "payload": {}}
        )
        assert output["duplicate"] is False

    assert [row["tenant"] for row in await rows(db_pool)] == ["acme", "globex"]


async def test_works_on_a_single_connection_inside_a_transaction(db_pool: asyncpg.Pool) -> None:
    async with db_pool.acquire() as conn, conn.transaction():
        output = await invoke(NOTIFY_OUTBOX, context(conn), {"topic": "t", "payload": {"a": None}})

    assert output["duplicate"] is False
    assert [row["payload"] for row in await rows(db_pool)] == [{"a": None}]
