"""Deterministic inbox data on top of ``seed.seed_studio``: open human tasks and more waiting runs, in plain SQL.

The standard data set's ``waiting`` run (human-task, WAITING on a human wait) gets its open task; two more
WAITING runs wait on an event and on a timer; a second, older task has a hostile title and a secret in its
context (the service redacts it).
"""

import uuid
from datetime import datetime, timedelta
from typing import Any, Final

from engine.store.db import Conn
from tests.tui import seed

_NAMESPACE: Final = uuid.UUID("0d6f3c8e-5a1b-4c57-9e0a-2f4b7d1c9a30")

REFUND_FORM: Final[dict[str, Any]] = seed.example("human_task")["steps"][0]["formSchema"]


def task_id(name: str) -> str:
    """The fixed task id of a named seeded task."""
    return str(uuid.uuid5(_NAMESPACE, name))


async def insert_task(
    conn: Conn,
    name: str,
    run: str,
    *,
    seq: int,
    title: str,
    task_type: str,
    created: datetime,
    description: str | None = None,
    form_schema: dict[str, Any] | None = None,
    context_data: dict[str, Any] | None = None,
    timeout: datetime | None = None,
    tenant: str = seed.TENANT,
) -> str:
    """Insert an OPEN task of ``run`` and return its id."""
    tid = task_id(name)
    await conn.execute(
        """INSERT INTO workflow_tasks (tenant, task_id, run_id, seq, step_path, task_type, title, description,
                                       form_schema, context_data, status, created_at, timeout_at)
           VALUES ($1, $2, $3, $4, 'root.steps[0]', $5, $6, $7, $8, $9, 'OPEN', $10, $11)""",
        tenant,
        tid,
        run,
        seq,
        task_type,
        title,
        description,
        form_schema or {},
        context_data or {},
        created,
        timeout,
    )
    return tid


async def insert_wait(
    conn: Conn,
    run: str,
    *,
    wait_type: str,
    created: datetime,
    event_name: str | None = None,
    key: str | None = None,
    timeout: datetime | None = None,
    tenant: str = seed.TENANT,
) -> None:
    """Insert the open wait of ``run`` at its first step."""
    await conn.execute(
        """INSERT INTO workflow_run_waits (tenant, run_id, seq, step_path, wait_type, event_name, correlation_key,
                                           timeout_at, status, created_at)
           VALUES ($1, $2, 1, 'root.steps[0]', $3, $4, $5, $6, 'WAITING', $7)""",
        tenant,
        run,
        wait_type,
        event_name,
        key,
        timeout,
        created,
    )


async def seed_inbox(conn: Conn) -> dict[str, str]:
    """Tasks and waiting runs for the inbox (call after ``seed.seed_studio``). Returns ids by name."""
    ids: dict[str, str] = {}
    ids["refund"] = await insert_task(
        conn,
        "refund",
        seed.run_id("waiting"),
        seq=1,
        title="Review refund for acme",
        task_type="refund-review",
        description="Approve or reject the refund.",
        form_schema=REFUND_FORM,
        context_data={"customer": "acme", "amount": 120},
        created=seed.ago(3 * 3600),
        timeout=seed.NOW + timedelta(hours=21),
    )
    ids["paid"] = await seed.insert_run(
        conn,
        seed.Run("order-paid", "event-wait", "WAITING", seed.ago(45 * 60), step_count=1),
    )
    await insert_wait(
        conn, ids["paid"], wait_type="event", event_name="order.paid", key="A-1001", created=seed.ago(45 * 60)
    )
    ids["nap"] = await seed.insert_run(conn, seed.Run("nap", "timer", "WAITING", seed.ago(90), step_count=1))
    await insert_wait(conn, ids["nap"], wait_type="time", created=seed.ago(90), timeout=seed.NOW + timedelta(minutes=8))
    ids["approval"] = await seed.insert_run(
        conn,
        seed.Run(
            "approval",
            "human-task",
            "WAITING",
            seed.ago(10 * 60),
            step_count=1,
            input={"customer": "globex", "apiToken": "tok-998877"},
        ),
    )
    await insert_wait(conn, ids["approval"], wait_type="human", created=seed.ago(10 * 60))
    ids["hostile-task"] = await insert_task(
        conn,
        "hostile-task",
        ids["approval"],
        seq=1,
        title=seed.HOSTILE_TEXT,
        task_type="access[bold]",
        description="Grant access?",
        form_schema=REFUND_FORM,
        context_data={"customer": "globex", "apiToken": "tok-998877"},
        created=seed.ago(10 * 60),
    )
    return ids
