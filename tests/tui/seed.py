"""Deterministic studio data in plain SQL: fixed ids, times relative to a frozen clock, hostile strings."""

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from engine.dsl.hashing import definition_hash
from engine.store.db import Conn

TENANT: Final = "studio"
NOW: Final = datetime(2025, 6, 2, 9, 30, tzinfo=UTC)
"""The frozen "now" of every studio test."""

_NAMESPACE: Final = uuid.UUID("6b1c7a52-36a4-4d59-9f39-0f6c1f9d2e11")
EXAMPLES: Final = Path(__file__).resolve().parents[2] / "examples"


def frozen_clock() -> datetime:
    """The studio's clock in tests."""
    return NOW


def run_id(name: str) -> str:
    """The fixed run id of a named seeded run."""
    return str(uuid.uuid5(_NAMESPACE, name))


def ago(seconds: float) -> datetime:
    """A time ``seconds`` before ``NOW``."""
    return NOW - timedelta(seconds=seconds)


HOSTILE_TEXT: Final = "[bold]loud[/bold] [@click=app.quit]quit[/] \x1b[2J \x1b]52;c;SGVsbG8=\x07 \x9b31m red\rover"
"""Markup, a screen clear, an OSC 52 clipboard write, a C1 CSI and a carriage return."""
HOSTILE_WORKFLOW: Final = "evil[bold]\x1b[2J"

NESTED_DEFINITION: Final[dict[str, Any]] = {
    "id": "nested-ops",
    "version": 1,
    "name": "Nested control flow",
    "steps": [
        {
            "id": "check",
            "type": "control.if",
            "condition": {"$expr": "payload.urgent"},
            "then": [{"id": "page", "type": "state.assign", "assign": {"vars.paged": True}}],
        },
        {
            "id": "each-line",
            "type": "control.forEach",
            "items": {"$expr": "payload.lines"},
            "itemVar": "line",
            "body": [
                {"id": "echo-line", "type": "action.call", "action": "core.echo", "version": 1, "input": {}},
                {"id": "add", "type": "state.assign", "assign": {"vars.n": {"$expr": "vars.n + 1"}}},
            ],
        },
        {
            "id": "guard",
            "type": "control.tryCatch",
            "captureErrorAs": "err",
            "try": [{"id": "explode", "type": "action.call", "action": "core.fail", "version": 1, "input": {}}],
            "catch": [{"id": "recover", "type": "state.assign", "assign": {"vars.recovered": True}}],
        },
        {"id": "flaky", "type": "action.call", "action": "core.echo", "version": 1, "input": {}},
        {"id": "finalize", "type": "action.call", "action": "core.fail", "version": 1, "input": {}},
    ],
}

HOSTILE_DEFINITION: Final[dict[str, Any]] = {
    "id": HOSTILE_WORKFLOW,
    "version": 1,
    "name": "Hostile strings",
    "steps": [{"id": "copy", "type": "state.assign", "assign": {"vars.note": {"$expr": "payload.note"}}}],
}


def example(name: str) -> dict[str, Any]:
    """The parsed definition in ``examples/<name>.json``."""
    data: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text())
    return data


async def publish(conn: Conn, definition: dict[str, Any], *, tenant: str = TENANT) -> None:
    """Insert a definition and its version row (what ``publish`` would store), so runs can be redacted."""
    await conn.execute(
        "INSERT INTO workflow_definitions (tenant, workflow_id, latest_version, name) VALUES ($1, $2, $3, $4)",
        tenant,
        definition["id"],
        definition["version"],
        definition["name"],
    )
    await conn.execute(
        """INSERT INTO workflow_definition_versions (tenant, workflow_id, version, definition, definition_hash,
                                                     trigger_type, published_at)
           VALUES ($1, $2, $3, $4, $5, 'manual', $6)""",
        tenant,
        definition["id"],
        definition["version"],
        definition,
        definition_hash(definition),
        ago(86400),
    )


@dataclass
class Run:
    """A run row to insert (terminal runs need ``completed``)."""

    name: str
    workflow_id: str
    status: str
    started: datetime
    completed: datetime | None = None
    step_count: int = 0
    trigger: str = "manual"
    trigger_metadata: dict[str, Any] | None = None
    input: dict[str, Any] | None = None
    vars: dict[str, Any] | None = None
    output: Any = None
    error: dict[str, Any] | None = None
    parent: str | None = None
    current_step_path: str | None = None


async def insert_run(conn: Conn, run: Run, *, tenant: str = TENANT) -> str:
    """Insert ``run`` and return its id."""
    rid = run_id(run.name)
    parent = run_id(run.parent) if run.parent else None
    await conn.execute(
        """INSERT INTO workflow_runs (tenant, run_id, workflow_id, workflow_version, status, engine,
                                      temporal_workflow_id, parent_run_id, root_run_id, input_json, vars_json,
                                      output_json, error_json, current_step_path, trigger, trigger_metadata,
                                      created_at, started_at, updated_at, completed_at, step_count)
           VALUES ($1, $2::uuid, $3, 1, $4, 'temporal', 'workflow-runtime-v2:run:' || $2::text, $5::uuid,
                   coalesce($5::uuid, $2::uuid),
                   $6, $7, $8, $9, $10, $11, $12, $13, $13, $13, $14, $15)""",
        tenant,
        rid,
        run.workflow_id,
        run.status,
        parent,
        run.input or {},
        run.vars or {},
        run.output,
        run.error,
        run.current_step_path,
        run.trigger,
        run.trigger_metadata or {},
        run.started,
        run.completed,
        run.step_count,
    )
    return rid


async def insert_step(
    conn: Conn,
    run: str,
    seq: int,
    path: str,
    step_id: str,
    step_type: str,
    status: str,
    started: datetime,
    took_ms: int | None,
    *,
    attempt: int = 1,
    iteration: str | None = None,
    error: dict[str, Any] | None = None,
    tenant: str = TENANT,
) -> None:
    """Insert one step attempt (``took_ms`` ``None``: still running)."""
    completed = started + timedelta(milliseconds=took_ms) if took_ms is not None else None
    await conn.execute(
        """INSERT INTO workflow_run_steps (tenant, run_id, seq, attempt, path, step_id, step_type, iteration, status,
                                           started_at, completed_at, duration_ms, error_json)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)""",
        tenant,
        run,
        seq,
        attempt,
        path,
        step_id,
        step_type,
        iteration,
        status,
        started,
        completed,
        took_ms,
        error,
    )


def _error(category: str, message: str, path: str, step: str) -> dict[str, Any]:
    return {"category": category, "message": message, "stepPath": path, "stepId": step}


async def seed_nested_run(conn: Conn) -> str:
    """A FAILED replay with if/then, a forEach over 3 items, a tryCatch whose try step failed, a step retried
    3 times, and a failing last step; plus an invocation, an event, an audit entry and a log line."""
    start = ago(12 * 60)
    error = _error("ActionError", "ledger rejected the batch", "root.steps[4]", "finalize")
    rid = await insert_run(
        conn,
        Run(
            "nested",
            "nested-ops",
            "FAILED",
            start,
            start + timedelta(milliseconds=4200),
            step_count=17,
            trigger="replay",
            trigger_metadata={"replayOfRunId": run_id("echo-1")},
            input={"urgent": True, "lines": ["disk", "ram", "cpu"], "apiToken": "tok-123456"},
            vars={"paged": True, "n": 3, "recovered": True},
            error=error,
        ),
    )
    t = start
    steps: list[tuple[str, str, str, str, int, dict[str, Any]]] = [
        ("root.steps[0]", "check", "control.if", "SUCCEEDED", 40, {}),
        ("root.steps[0].then[0]", "page", "state.assign", "SUCCEEDED", 5, {}),
        ("root.steps[1]", "each-line", "control.forEach", "SUCCEEDED", 1500, {}),
    ]
    for item in range(3):
        steps.append(
            (
                "root.steps[1].body[0]",
                "echo-line",
                "action.call",
                "SUCCEEDED",
                300 + 100 * item,
                {"iteration": str(item)},
            )
        )
        steps.append(("root.steps[1].body[1]", "add", "state.assign", "SUCCEEDED", 8, {"iteration": str(item)}))
    explode = _error("ActionError", "upstream said no", "root.steps[2].try[0]", "explode")
    steps += [
        ("root.steps[2]", "guard", "control.tryCatch", "SUCCEEDED", 600, {}),
        ("root.steps[2].try[0]", "explode", "action.call", "FAILED", 450, {"error": explode}),
        ("root.steps[2].catch[0]", "recover", "state.assign", "SUCCEEDED", 6, {}),
    ]
    seq = 0
    for path, step_id, step_type, status, took, extra in steps:
        seq += 1
        await insert_step(conn, rid, seq, path, step_id, step_type, status, t, took, **extra)
        t += timedelta(milliseconds=10)
    seq += 1
    reset = _error("NetworkError", "connection reset", "root.steps[3]", "flaky")
    for attempt, (status, took) in enumerate((("FAILED", 200), ("FAILED", 250), ("SUCCEEDED", 180)), start=1):
        err = reset if status == "FAILED" else None
        await insert_step(
            conn, rid, seq, "root.steps[3]", "flaky", "action.call", status, t, took, attempt=attempt, error=err
        )
        t += timedelta(milliseconds=300)
    seq += 1
    await insert_step(conn, rid, seq, "root.steps[4]", "finalize", "action.call", "FAILED", t, 900, error=error)
    await conn.execute(
        """INSERT INTO workflow_action_invocations (tenant, idempotency_key, run_id, seq, step_path, action,
                                                    action_version, attempt, status, input_json, error_json)
           VALUES ($1, $2, $3, $4, 'root.steps[4]', 'core.fail', 1, 1, 'FAILED', $5, $6)""",
        TENANT,
        f"{rid}:{seq}",
        rid,
        seq,
        {"category": "ActionError", "message": "ledger rejected the batch"},
        error,
    )
    await conn.execute(
        """INSERT INTO workflow_runtime_events (tenant, event_id, event_name, payload, correlation_key, outcome,
                                                signaled_run_ids, received_at)
           VALUES ($1, 'evt-1', 'ledger.updated', $2, 'batch-7', 'routed', ARRAY[$3::uuid], $4)""",
        TENANT,
        {"batch": 7},
        rid,
        start + timedelta(seconds=2),
    )
    await conn.execute(
        """INSERT INTO workflow_run_audit (tenant, run_id, action, actor, source, details, created_at)
           VALUES ($1, $2, 'replay', 'ana', 'ssh:10.0.0.7', $3, $4)""",
        TENANT,
        rid,
        {"newRunId": rid},
        start,
    )
    await conn.execute(
        "INSERT INTO workflow_run_logs (tenant, run_id, step_path, level, message, created_at) "
        "VALUES ($1, $2, 'root.steps[1].body[0]', 'info', 'echoed 3 lines', $3)",
        TENANT,
        rid,
        start + timedelta(seconds=1),
    )
    return rid


async def seed_hostile_run(conn: Conn) -> str:
    """A FAILED run whose workflow id, step id, payload, vars and error carry markup and terminal controls."""
    start = ago(40 * 60)
    error = _error("ActionError", HOSTILE_TEXT, "root.steps[0]", "copy")
    rid = await insert_run(
        conn,
        Run(
            "hostile",
            HOSTILE_WORKFLOW,
            "FAILED",
            start,
            start + timedelta(milliseconds=75),
            step_count=1,
            input={"note": HOSTILE_TEXT, "password": "hunter22"},
            vars={"note": HOSTILE_TEXT},
            error=error,
        ),
    )
    await insert_step(
        conn,
        rid,
        1,
        "root.steps[0]",
        "copy[@click=app.quit]\x1b]0;owned\x07",
        "state.assign",
        "FAILED",
        start,
        75,
        error=error,
    )
    return rid


async def seed_studio(conn: Conn) -> dict[str, str]:
    """The studio's standard data set: mixed statuses, a stuck run, a nested timeline, a parent and child,
    and a hostile run. Returns the run ids by name."""
    for name in ("echo_chain", "foreach", "timer", "human_task", "parent", "child", "support_login"):
        await publish(conn, example(name))
    await publish(conn, NESTED_DEFINITION)
    await publish(conn, HOSTILE_DEFINITION)
    ids: dict[str, str] = {}
    ids["stuck"] = await insert_run(conn, Run("stuck", "echo-chain", "RUNNING", ago(5 * 60)))
    ids["running"] = await insert_run(
        conn,
        Run("running", "foreach", "RUNNING", ago(20), step_count=2, current_step_path="root.steps[1]"),
    )
    await insert_step(conn, ids["running"], 1, "root.steps[0]", "init", "state.assign", "SUCCEEDED", ago(19), 4)
    await insert_step(conn, ids["running"], 2, "root.steps[1]", "loop", "control.forEach", "STARTED", ago(18), None)
    ids["waiting"] = await insert_run(
        conn,
        Run("waiting", "human-task", "WAITING", ago(3 * 3600), step_count=1, current_step_path="root.steps[0]"),
    )
    await conn.execute(
        """INSERT INTO workflow_run_waits (tenant, run_id, seq, step_path, wait_type, timeout_at, status, created_at)
           VALUES ($1, $2, 1, 'root.steps[0]', 'human', $3, 'WAITING', $4)""",
        TENANT,
        ids["waiting"],
        NOW + timedelta(hours=21),
        ago(3 * 3600),
    )
    await insert_step(conn, ids["waiting"], 1, "root.steps[0]", "approve", "human.task", "STARTED", ago(3 * 3600), None)
    ids["nested"] = await seed_nested_run(conn)
    ids["parent"] = await insert_run(
        conn, Run("parent", "parent", "SUCCEEDED", ago(30 * 60), ago(30 * 60 - 2), step_count=2, output={"ok": True})
    )
    ids["child"] = await insert_run(
        conn,
        Run(
            "child",
            "child",
            "SUCCEEDED",
            ago(30 * 60 - 0.5),
            ago(30 * 60 - 1.5),
            step_count=3,
            trigger="child",
            parent="parent",
        ),
    )
    parent_start, child_start = ago(30 * 60), ago(30 * 60 - 0.5)
    await insert_step(
        conn, ids["parent"], 1, "root.steps[0]", "call-child", "control.callWorkflow", "SUCCEEDED", parent_start, 1200
    )
    await insert_step(
        conn, ids["parent"], 2, "root.steps[1]", "after", "state.assign", "SUCCEEDED", ago(30 * 60 - 1.3), 3
    )
    for seq, (step_id, step_type, took) in enumerate(
        (("nap", "time.wait", 500), ("double", "state.assign", 4), ("finish", "control.return", 2)), start=1
    ):
        await insert_step(
            conn, ids["child"], seq, f"root.steps[{seq - 1}]", step_id, step_type, "SUCCEEDED", child_start, took
        )
    ids["hostile"] = await seed_hostile_run(conn)
    ids["canceled"] = await insert_run(
        conn,
        Run(
            "canceled",
            "timer",
            "CANCELED",
            ago(2 * 3600),
            ago(2 * 3600 - 90),
            step_count=1,
            error=_error("Canceled", "canceled by ana", "root.steps[0]", "nap"),
        ),
    )
    ids["secret"] = await insert_run(
        conn,
        Run(
            "secret",
            "support-login",
            "SUCCEEDED",
            ago(26 * 3600),
            ago(26 * 3600 - 1),
            step_count=1,
            input={"user": "ana", "password": "hunter2", "customer": {"ssn": "123-45-6789"}},
        ),
    )
    for n in range(1, 5):
        ids[f"echo-{n}"] = await insert_run(
            conn,
            Run(f"echo-{n}", "echo-chain", "SUCCEEDED", ago(n * 3600 + 17), ago(n * 3600 + 15), step_count=3),
        )
    return ids


async def seed_many(conn: Conn, count: int, *, start: datetime = NOW) -> list[str]:
    """``count`` SUCCEEDED echo-chain runs, one a minute back from ``start``, newest first."""
    await publish(conn, example("echo_chain"))
    ids = []
    for n in range(count):
        began = start - timedelta(minutes=n + 1)
        ids.append(
            await insert_run(
                conn, Run(f"many-{n}", "echo-chain", "SUCCEEDED", began, began + timedelta(seconds=1), step_count=3)
            )
        )
    return ids
