"""A replay and its original for the diff screen: the edit took the other branch, replaced the password and
failed; a hostile vars key shows as text. Fixed ids and times (``seed.NOW``)."""

from datetime import timedelta
from typing import Any, Final

from engine.store.db import Conn
from tests.tui import seed

OLD_SECRET: Final = "hunter22-old"
NEW_SECRET: Final = "correct-horse-new"
SSN: Final = "123-45-6789"
HOSTILE_KEY: Final = "[bold]note[/bold]"
HOSTILE_VALUE: Final = "[@click=app.quit]quit[/]"

DEFINITION: Final[dict[str, Any]] = {
    "id": "diff-demo",
    "version": 1,
    "name": "Diff demo",
    "redact": ["customer.ssn"],
    "steps": [
        {
            "id": "route",
            "type": "control.if",
            "condition": {"$expr": "payload.priority = 'high'"},
            "then": [{"id": "page", "type": "action.call", "action": "core.fail", "version": 1, "input": {}}],
            "else": [{"id": "queue", "type": "state.assign", "assign": {"vars.route": "queue"}}],
        },
        {"id": "record", "type": "state.assign", "assign": {"vars.passwordLength": 0}},
        {
            "id": "finish",
            "type": "control.if",
            "condition": {"$expr": "payload.priority = 'high'"},
            "then": [{"id": "refuse", "type": "action.call", "action": "core.fail", "version": 1, "input": {}}],
        },
    ],
}

ORIGINAL: Final = "diff-original"
REPLAY: Final = "diff-replay"


async def seed_run_diff(conn: Conn) -> tuple[str, str]:
    """Insert the definition, the original (SUCCEEDED) and its edited replay (FAILED); return both ids."""
    await seed.publish(conn, DEFINITION)
    customer = {"ssn": SSN, "name": "ACME"}
    start = seed.ago(50 * 60)
    original = await seed.insert_run(
        conn,
        seed.Run(
            ORIGINAL,
            "diff-demo",
            "SUCCEEDED",
            start,
            start + timedelta(milliseconds=60),
            step_count=4,
            input={"priority": "low", "password": OLD_SECRET, "customer": customer},
            vars={"route": "queue", "passwordLength": len(OLD_SECRET)},
        ),
    )
    t = start
    for seq, (path, step_id, step_type, took) in enumerate(
        [
            ("root.steps[0]", "route", "control.if", 40),
            ("root.steps[0].else[0]", "queue", "state.assign", 5),
            ("root.steps[1]", "record", "state.assign", 3),
            ("root.steps[2]", "finish", "control.if", 4),
        ],
        start=1,
    ):
        await seed.insert_step(conn, original, seq, path, step_id, step_type, "SUCCEEDED", t, took)
        t += timedelta(milliseconds=10)

    start = seed.ago(10 * 60)
    refused = {"category": "ActionError", "message": "escalation refused", "stepPath": "root.steps[2].then[0]"}
    paged = {"category": "ActionError", "message": "pager is down", "stepPath": "root.steps[0].then[0]"}
    replay = await seed.insert_run(
        conn,
        seed.Run(
            REPLAY,
            "diff-demo",
            "FAILED",
            start,
            start + timedelta(milliseconds=900),
            step_count=6,
            trigger="replay",
            trigger_metadata={"replayOfRunId": original, "edited": True},
            input={"priority": "high", "password": NEW_SECRET, "customer": customer},
            vars={"passwordLength": len(NEW_SECRET), HOSTILE_KEY: HOSTILE_VALUE},
            error=refused,
        ),
    )
    t = start
    steps: list[tuple[str, str, str, str, int, int, dict[str, Any] | None]] = [
        ("root.steps[0]", "route", "control.if", "SUCCEEDED", 38, 1, None),
        ("root.steps[0].then[0]", "page", "action.call", "FAILED", 120, 1, paged),
        ("root.steps[0].then[0]", "page", "action.call", "FAILED", 130, 2, paged),
        ("root.steps[1]", "record", "state.assign", "SUCCEEDED", 3, 1, None),
        ("root.steps[2]", "finish", "control.if", "FAILED", 30, 1, refused),
        ("root.steps[2].then[0]", "refuse", "action.call", "FAILED", 25, 1, refused),
    ]
    for seq, (path, step_id, step_type, status, took, attempt, error) in enumerate(steps, start=1):
        await seed.insert_step(
            conn, replay, seq, path, step_id, step_type, status, t, took, attempt=attempt, error=error
        )
        t += timedelta(milliseconds=150)
    await conn.execute(
        """INSERT INTO workflow_run_audit (tenant, run_id, action, actor, source, details, created_at)
           VALUES ($1, $2, 'replay', 'ana', 'ssh:10.0.0.7', $3, $4)""",
        seed.TENANT,
        original,
        {"newRunId": replay, "edited": True, "started": True, "secretsReplaced": ["$.password"]},
        start,
    )
    return original, replay
