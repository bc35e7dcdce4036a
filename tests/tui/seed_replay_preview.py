"""A seeded run whose replay preview has every outcome: reused, runs again and unknown, pure and not."""

from typing import Any, Final

from engine.store.db import Conn
from tests.tui import seed

PREVIEW_RUN: Final = "preview"
CARD: Final = "4111-1111-1111-1111"

ORDER_SYNC: Final[dict[str, Any]] = {
    "id": "order-sync",
    "version": 1,
    "name": "Order sync",
    "payloadSchema": {
        "type": "object",
        "required": ["orderId", "card"],
        "properties": {"orderId": {"type": "string"}, "card": {"type": "string"}},
    },
    "redact": ["card"],
    "steps": [
        {"id": "prep", "type": "state.assign", "assign": {"vars.orderKey": {"$expr": "'order-' & payload.orderId"}}},
        {
            "id": "lookup",
            "type": "action.call",
            "action": "http.request",
            "version": 1,
            "input": {"method": "GET", "url": "https://orders.example/o"},
            "saveAs": "vars.order",
        },
        {
            "id": "notify",
            "type": "action.call",
            "action": "notify.outbox",
            "version": 1,
            "input": {"topic": "orders", "payload": {}},
            "idempotencyKey": {"$expr": "vars.orderKey & '-notify'"},
        },
        {
            "id": "charge",
            "type": "action.call",
            "action": "notify.outbox",
            "version": 1,
            "input": {"topic": "charges", "payload": {}},
            "idempotencyKey": {"$expr": "'charge-' & payload.card"},
        },
        {
            "id": "stamp",
            "type": "action.call",
            "action": "notify.outbox",
            "version": 1,
            "input": {"topic": "stamps", "payload": {}},
            "idempotencyKey": {"$expr": "'stamp-' & vars.order.json.id"},
        },
        {
            "id": "trace",
            "type": "action.call",
            "action": "core.log",
            "version": 1,
            "input": {"message": "synced"},
            "idempotencyKey": {"$expr": "'trace-' & nowIso()"},
        },
    ],
}

_CALLS: Final = [
    # (path, step id, action, key, input)
    ("root.steps[1]", "lookup", "http.request", None, {"method": "GET", "url": "https://orders.example/o"}),
    ("root.steps[2]", "notify", "notify.outbox", "order-o-1-notify", {"topic": "orders", "payload": {}}),
    ("root.steps[3]", "charge", "notify.outbox", f"charge-{CARD}", {"topic": "charges", "payload": {}}),
    ("root.steps[4]", "stamp", "notify.outbox", "stamp-77", {"topic": "stamps", "payload": {}}),
    ("root.steps[5]", "trace", "core.log", "trace-2025-06-02T09:00:00.000Z", {"message": "synced"}),
]


async def seed_preview_run(conn: Conn) -> str:
    """Publish ``order-sync`` and insert a SUCCEEDED run of it with its step rows and ledger rows."""
    await seed.publish(conn, ORDER_SYNC)
    start = seed.ago(30 * 60)
    rid = await seed.insert_run(
        conn,
        seed.Run(
            PREVIEW_RUN,
            "order-sync",
            "SUCCEEDED",
            start,
            seed.ago(30 * 60 - 2),
            step_count=6,
            input={"orderId": "o-1", "card": CARD},
        ),
    )
    await seed.insert_step(conn, rid, 1, "root.steps[0]", "prep", "state.assign", "SUCCEEDED", start, 2)
    for seq, (path, step_id, action, key, action_input) in enumerate(_CALLS, start=2):
        await seed.insert_step(conn, rid, seq, path, step_id, "action.call", "SUCCEEDED", start, 20)
        await conn.execute(
            """INSERT INTO workflow_action_invocations (tenant, idempotency_key, run_id, seq, step_path, action,
                                                        action_version, attempt, status, input_json, output_json)
               VALUES ($1, $2, $3, $4, $5, $6, 1, 1, 'SUCCEEDED', $7, '{}'::jsonb)""",
            seed.TENANT,
            key or f"{rid}:{seq}",
            rid,
            seq,
            path,
            action,
            action_input,
        )
    return rid
