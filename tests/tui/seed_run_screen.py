"""Run-screen data on top of ``seed.seed_studio``: event waits with filters, a non-matching and a matching
event, and a WAITING run with an open human task (plain SQL, fixed ids, times relative to the frozen clock)."""

from datetime import datetime, timedelta
from typing import Any, Final

from engine.store.db import Conn
from tests.tui import seed
from tests.tui.seed_inbox import REFUND_FORM, insert_task

FILTERS: Final[list[dict[str, Any]]] = [{"path": "amount", "op": ">", "value": 100}]
LOW_EVENT: Final = "evt-low-amount"
GOOD_EVENT: Final = "evt-approved"


async def _wait(
    conn: Conn,
    run: str,
    *,
    wait_type: str,
    status: str,
    created: datetime,
    event_name: str | None = None,
    key: str | None = None,
    timeout: datetime | None = None,
    resolved: datetime | None = None,
    matched: str | None = None,
    non_match: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        """INSERT INTO workflow_run_waits (tenant, run_id, seq, step_path, wait_type, event_name, correlation_key,
                                           filters, timeout_at, status, created_at, resolved_at, matched_event_id,
                                           non_match)
           VALUES ($1, $2, 1, 'root.steps[0]', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)""",
        seed.TENANT,
        run,
        wait_type,
        event_name,
        key,
        FILTERS if wait_type == "event" else None,
        timeout,
        status,
        created,
        resolved,
        matched,
        non_match,
    )


async def _event(conn: Conn, event_id: str, run: str, payload: dict[str, Any], received: datetime) -> None:
    await conn.execute(
        """INSERT INTO workflow_runtime_events (tenant, event_id, event_name, payload, correlation_key, outcome,
                                                matched_run_ids, signaled_run_ids, received_at, routed_at)
           VALUES ($1, $2, 'ticket.approved', $3, 'T-1001', 'routed', ARRAY[$4::uuid], ARRAY[$4::uuid], $5, $5)""",
        seed.TENANT,
        event_id,
        payload,
        run,
        received,
    )


async def seed_run_screen(conn: Conn) -> dict[str, str]:
    """Adds ``approval`` (WAITING on ticket.approved T-1001, amount > 100; an event of amount 50 did not match),
    ``approved`` (the same wait, resolved by a matching event; its timeout had been 10 minutes away) and
    ``review`` (WAITING on an open human task). Returns the run ids by name."""
    await seed.publish(conn, seed.example("event_wait"))
    ids: dict[str, str] = {}
    started = seed.ago(5 * 60)
    ids["approval"] = await seed.insert_run(
        conn,
        seed.Run("approval", "event-wait", "WAITING", started, step_count=1, current_step_path="root.steps[0]"),
    )
    await seed.insert_step(
        conn, ids["approval"], 1, "root.steps[0]", "approval", "event.wait", "STARTED", started, None
    )
    await _event(conn, LOW_EVENT, ids["approval"], {"amount": 50}, seed.ago(60))
    await _wait(
        conn,
        ids["approval"],
        wait_type="event",
        status="WAITING",
        created=started,
        event_name="ticket.approved",
        key="T-1001",
        timeout=seed.ago(-4 * 60),
        non_match={"event_id": LOW_EVENT, "reason": "amount > 100 was 50", "at": seed.ago(60).isoformat()},
    )

    began = seed.ago(40 * 60)
    ids["approved"] = await seed.insert_run(
        conn, seed.Run("approved", "event-wait", "SUCCEEDED", began, seed.ago(38 * 60), step_count=2)
    )
    await seed.insert_step(
        conn, ids["approved"], 1, "root.steps[0]", "approval", "event.wait", "SUCCEEDED", began, 120_000
    )
    await _event(conn, GOOD_EVENT, ids["approved"], {"amount": 500, "by": "ana"}, seed.ago(38 * 60))
    await _wait(
        conn,
        ids["approved"],
        wait_type="event",
        status="RESOLVED",
        created=began,
        event_name="ticket.approved",
        key="T-1001",
        timeout=began + timedelta(minutes=10),
        resolved=seed.ago(38 * 60),
        matched=GOOD_EVENT,
    )

    asked = seed.ago(15 * 60)
    ids["review"] = await seed.insert_run(
        conn,
        seed.Run("review", "human-task", "WAITING", asked, step_count=1, current_step_path="root.steps[0]"),
    )
    await seed.insert_step(conn, ids["review"], 1, "root.steps[0]", "review", "human.task", "STARTED", asked, None)
    task = await insert_task(
        conn,
        "review-task",
        ids["review"],
        seq=1,
        title="Review refund for acme",
        task_type="refund-review",
        created=asked,
        form_schema=REFUND_FORM,
        context_data={"customer": "acme"},
    )
    await _wait(
        conn, ids["review"], wait_type="human", status="WAITING", created=asked, event_name="refund-review", key=task
    )
    return ids
