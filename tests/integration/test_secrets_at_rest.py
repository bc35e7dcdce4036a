"""Secrets at rest in Postgres: one sealed original per run, everything else written redacted.

A run copies its ``password`` and ``ssn`` everywhere a run can write (vars, an action's input and output,
a step error, a log line, a human task, an event, a child run, an event-triggered run, its output), then
every text and JSON column of every table is searched: the secrets are only in the outbox, which keeps
what the action wrote for the systems that deliver it.
"""

import json
import random
import uuid
from typing import Any

import asyncpg

from engine.keyring import is_sealed, parse_keys
from engine.redaction import PLACEHOLDER
from engine.services.audit import Actor
from engine.services.context import ServiceContext
from engine.services.ingress import ingest_inbox_batch, submit_event
from engine.services.launch import launch_run
from engine.services.publish import publish_definition
from engine.services.replay import replay_run
from engine.services.runs import get_run_detail
from engine.services.tasks import complete_task, list_open_tasks
from engine.store import migrations
from engine.store.db import connect
from tests.conftest import TEST_ENCRYPTION_KEYS, cli_env
from tests.helpers import publish_examples, runstudio, wait_for_run, wait_until

ACTOR = Actor(user="oncall", source="test")
EVENT = "secret.check"

CHILD = {
    "id": "secret-child",
    "version": 1,
    "name": "Child handed a secret under a plain name",
    "steps": [
        {"id": "keep", "type": "state.assign", "assign": {"vars.got": {"$expr": "'child got ' & payload.note"}}},
        {"id": "finish", "type": "control.return", "output": {"echo": {"$expr": "payload.note"}}},
    ],
}

INTAKE = {
    "id": "secret-intake",
    "version": 1,
    "name": "Started by the event, which carries the secrets",
    "trigger": {"type": "event", "eventName": EVENT},
    "redact": ["ref"],
    "steps": [{"id": "keep", "type": "state.assign", "assign": {"vars.ref": {"$expr": "'ref ' & payload.ref"}}}],
}

SPREADER = {
    "id": "secret-spreader",
    "version": 1,
    "name": "Copies its secrets into everything a run writes",
    "payloadSchema": {
        "type": "object",
        "required": ["user", "password", "ssn"],
        "properties": {"user": {"type": "string"}, "password": {"type": "string"}, "ssn": {"type": "string"}},
    },
    "redact": ["ssn"],
    "steps": [
        {
            "id": "copy",
            "type": "state.assign",
            "assign": {
                "vars.note": {"$expr": "'pw is ' & payload.password"},
                "vars.passwordLength": {"$expr": "$length(payload.password)"},
                "vars.ssnCopy": {"$expr": "payload.ssn"},
            },
        },
        {
            "id": "echo",
            "type": "action.call",
            "action": "core.echo",
            "version": 1,
            "input": {
                "who": {"$expr": "payload.user"},
                "pw": {"$expr": "payload.password"},
                "id": {"$expr": "payload.ssn"},
            },
            "saveAs": "vars.echoed",
        },
        {
            "id": "guard",
            "type": "control.tryCatch",
            "captureErrorAs": "err",
            "try": [
                {
                    "id": "explode",
                    "type": "action.call",
                    "action": "core.fail",
                    "version": 1,
                    "input": {
                        "category": "ActionError",
                        "message": {"$expr": "'login refused for ' & payload.password & ' / ' & payload.ssn"},
                    },
                }
            ],
            "catch": [{"id": "recover", "type": "state.assign", "assign": {"vars.reason": {"$expr": "error.message"}}}],
        },
        {
            "id": "say",
            "type": "action.call",
            "action": "core.log",
            "version": 1,
            "input": {
                "level": "info",
                "message": {"$expr": "'ssn on file ' & payload.ssn & ', pw ' & payload.password"},
            },
        },
        {
            "id": "tell",
            "type": "action.call",
            "action": "notify.outbox",
            "version": 1,
            "input": {"topic": "login", "payload": {"ssn": {"$expr": "payload.ssn"}}},
        },
        {
            "id": "call-child",
            "type": "control.callWorkflow",
            "workflowId": "secret-child",
            "workflowVersion": 1,
            "inputMapping": {"note": {"$expr": "payload.ssn"}},
            "outputMapping": {"vars.fromChild": {"$expr": "output.echo"}},
        },
        {
            "id": "review",
            "type": "human.task",
            "taskType": "secret-review",
            "title": {"$expr": "'Check ' & payload.ssn"},
            "description": {"$expr": "'password ' & payload.password"},
            "formSchema": {"type": "object", "required": ["ok"], "properties": {"ok": {"type": "boolean"}}},
            "contextData": {"ssn": {"$expr": "payload.ssn"}, "hint": {"$expr": "payload.password"}},
            "saveAs": "vars.review",
        },
        {
            "id": "approval",
            "type": "event.wait",
            "eventName": EVENT,
            "correlationKey": {"$expr": "payload.user"},
            "saveAs": "vars.approval",
        },
        {
            "id": "finish",
            "type": "control.return",
            "output": {"said": {"$expr": "vars.note"}, "ssn": {"$expr": "payload.ssn"}},
        },
    ],
}


def new_secrets() -> tuple[str, str]:
    """A password and an ssn no other test (or row) holds."""
    digits = "".join(random.choices("0123456789", k=9))
    return f"pw-{uuid.uuid4().hex}", f"{digits[:3]}-{digits[3:5]}-{digits[5:]}"


async def columns_holding(conn: asyncpg.Connection | asyncpg.Pool, secrets: tuple[str, ...]) -> set[str]:
    """``table.column`` of every text/JSON column (from information_schema) in which any secret occurs."""
    columns = await conn.fetch(
        """
        SELECT table_name, column_name FROM information_schema.columns
         WHERE table_schema = 'public' AND data_type IN ('text', 'character varying', 'json', 'jsonb', 'ARRAY')
         ORDER BY table_name, column_name
        """
    )
    assert len({c["table_name"] for c in columns}) >= 12  # the dump really covers the schema
    found: set[str] = set()
    for c in columns:
        table, column = (_quote(c["table_name"]), _quote(c["column_name"]))
        for secret in secrets:
            hits = await conn.fetchval(
                f"SELECT count(*) FROM {table} WHERE strpos({column}::text, $1) > 0",
                secret,
            )
            if hits:
                found.add(f"{c['table_name']}.{c['column_name']}")
    return found


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


async def run_spreader(services: ServiceContext, password: str, ssn: str, user: str) -> tuple[str, list[str]]:
    """Run the spreader through its task and its event; return its run id and the event-started run ids."""
    for definition in (CHILD, INTAKE, SPREADER):
        await publish_definition(services, definition)
    run_id = await launch_run(
        services, workflow_id="secret-spreader", payload={"user": user, "password": password, "ssn": ssn}
    )

    async def open_task() -> str | None:
        return next((t.task_id for t in await list_open_tasks(services) if t.run_id == run_id), None)

    task_id = await wait_until(open_task, what="the review task")
    await complete_task(services, task_id, {"ok": True}, actor=ACTOR)

    async def waiting_for_event() -> bool:
        detail = await get_run_detail(services, run_id)
        return any(w.wait_type == "event" and w.status == "WAITING" for w in detail.waits)

    await wait_until(waiting_for_event, what="the event wait")
    outcome = await submit_event(
        services, EVENT, {"password": password, "ref": ssn, "note": f"about {ssn}"}, correlation_key=user
    )
    assert outcome.signaled_run_ids == [run_id] and len(outcome.started_run_ids) == 1, outcome
    done = await wait_for_run(services, run_id)
    assert done.status == "SUCCEEDED", done.error
    # The same event again, enqueued by another system in the inbox: routed by the worker's consumer.
    inbox_id = await services.pool.fetchval(
        """
        INSERT INTO workflow_event_inbox (tenant, event_id, event_name, payload, correlation_key)
        VALUES ($1, $2, $3, $4, $5) RETURNING id
        """,
        services.tenant,
        f"inbox-{uuid.uuid4().hex}",
        EVENT,
        {"password": password, "ref": ssn, "note": f"about {ssn}"},
        user,
    )

    async def inbox_routed() -> bool:
        await ingest_inbox_batch(services.for_tenant, services.pool)
        processed = await services.pool.fetchval(
            "SELECT processed_at IS NOT NULL AND last_error IS NULL FROM workflow_event_inbox WHERE id = $1", inbox_id
        )
        return bool(processed)

    await wait_until(inbox_routed, what="the inbox row to be routed")
    started = [
        r["run_id"]
        for r in await services.pool.fetch(
            "SELECT run_id::text AS run_id FROM workflow_runs WHERE tenant = $1 AND trigger = 'event'", services.tenant
        )
    ]
    assert len(started) == 2 and set(outcome.started_run_ids) < set(started)
    for event_run in started:
        assert (await wait_for_run(services, event_run)).status == "SUCCEEDED"
    return run_id, started


async def test_no_secret_is_stored_outside_the_outbox_and_the_input_is_one_sealed_original(
    services: ServiceContext,
) -> None:
    password, ssn = new_secrets()
    user = f"ana-{uuid.uuid4().hex[:8]}"
    run_id, started = await run_spreader(services, password, ssn, user)

    # The execution itself saw the real values: the length and the child's echo were computed from them.
    detail = await get_run_detail(services, run_id)
    assert detail.vars["passwordLength"] == len(password)
    assert detail.vars["note"] == f"pw is {PLACEHOLDER}"
    assert detail.vars["ssnCopy"] == PLACEHOLDER and detail.vars["fromChild"] == PLACEHOLDER
    assert detail.vars["reason"] == f"login refused for {PLACEHOLDER} / {PLACEHOLDER}"
    assert detail.input == {"user": user, "password": PLACEHOLDER, "ssn": PLACEHOLDER}
    assert detail.output == {"said": f"pw is {PLACEHOLDER}", "ssn": PLACEHOLDER}
    assert [line.message for line in detail.logs] == [f"ssn on file {PLACEHOLDER}, pw {PLACEHOLDER}"]

    # Everything the tenant's runs wrote, searched column by column: only the outbox has the secrets.
    assert await columns_holding(services.pool, (password, ssn)) == {"workflow_notify_outbox.payload"}
    outbox = await services.pool.fetchval(
        "SELECT payload FROM workflow_notify_outbox WHERE tenant = $1 AND run_id = $2", services.tenant, run_id
    )
    assert outbox == {"ssn": ssn}

    # Each run's input_json is a sealed envelope under the current key; opening it gives the original.
    rows = await services.pool.fetch(
        "SELECT run_id::text AS run_id, trigger, input_json, input_redacted FROM workflow_runs WHERE tenant = $1",
        services.tenant,
    )
    by_trigger = {r["trigger"]: r for r in rows}
    assert sorted(r["trigger"] for r in rows) == ["child", "event", "event", "manual"]
    assert {r["run_id"] for r in rows if r["trigger"] == "event"} == set(started)
    for row in rows:
        assert is_sealed(row["input_json"]) and row["input_json"]["kid"] == services.keyring.current_id
    assert services.keyring.open_json(by_trigger["manual"]["input_json"]) == {
        "user": user,
        "password": password,
        "ssn": ssn,
    }
    assert services.keyring.open_json(by_trigger["child"]["input_json"]) == {"note": ssn}
    assert by_trigger["child"]["input_redacted"] == {"note": PLACEHOLDER}
    assert by_trigger["event"]["input_redacted"] == {
        "password": PLACEHOLDER,
        "ref": PLACEHOLDER,
        "note": f"about {PLACEHOLDER}",
    }

    # The ledger shows a redacted output and keeps the action's real one sealed for a redelivered attempt.
    echo = await services.pool.fetchrow(
        "SELECT output_json, output_sealed FROM workflow_action_invocations WHERE tenant = $1 AND action = 'core.echo'",
        services.tenant,
    )
    assert echo["output_json"] == {"who": user, "pw": PLACEHOLDER, "id": PLACEHOLDER}
    assert services.keyring.open_json(echo["output_sealed"]) == {"who": user, "pw": password, "id": ssn}


async def test_replay_opens_the_sealed_original_server_side(services: ServiceContext) -> None:
    password, ssn = new_secrets()
    await publish_examples(services, "support_login")
    payload = {"user": "ana", "password": password, "customer": {"ssn": ssn, "name": "ACME"}}
    original = await launch_run(services, workflow_id="support-login", payload=payload)
    await wait_for_run(services, original)

    unedited = await wait_for_run(services, await replay_run(services, original, payload=None, actor=ACTOR))
    assert unedited.status == "SUCCEEDED", unedited.error
    assert unedited.vars == {"user": "ana", "passwordLength": len(password), "ssnLast4": ssn[-4:]}

    shown = (await get_run_detail(services, original)).input
    assert shown == {"user": "ana", "password": PLACEHOLDER, "customer": {"ssn": PLACEHOLDER, "name": "ACME"}}
    edited_id = await replay_run(services, original, payload={**shown, "user": "bob"}, actor=ACTOR)
    edited = await wait_for_run(services, edited_id)
    assert edited.vars == {"user": "bob", "passwordLength": len(password), "ssnLast4": ssn[-4:]}
    sealed = await services.pool.fetchval(
        "SELECT input_json FROM workflow_runs WHERE tenant = $1 AND run_id = $2", services.tenant, edited_id
    )
    assert services.keyring.open_json(sealed) == {**payload, "user": "bob"}
    assert await columns_holding(services.pool, (password, ssn)) == set()


PLAINTEXT_DEFINITION = {
    "id": "legacy",
    "version": 1,
    "name": "Legacy",
    "redact": ["ssn"],
    "steps": [{"id": "s", "type": "state.assign", "assign": {"vars.x": 1}}],
}


async def insert_plaintext_run(conn: asyncpg.Connection, password: str, ssn: str) -> str:
    """A run as written before 0007: plaintext input, and its secrets copied into vars, a log and a step error."""
    run_id = str(uuid.uuid4())
    await conn.execute(
        "INSERT INTO workflow_definitions (tenant, workflow_id, latest_version, name) VALUES ('old', 'legacy', 1, 'L')"
    )
    await conn.execute(
        """
        INSERT INTO workflow_definition_versions (tenant, workflow_id, version, definition, definition_hash,
                                                  trigger_type)
        VALUES ('old', 'legacy', 1, $1, repeat('a', 64), 'manual')
        """,
        PLAINTEXT_DEFINITION,
    )
    await conn.execute(
        """
        INSERT INTO workflow_runs (tenant, run_id, workflow_id, workflow_version, status, input_json, vars_json,
                                   trigger, completed_at)
        VALUES ('old', $1, 'legacy', 1, 'SUCCEEDED', $2, $3, 'manual', now())
        """,
        run_id,
        {"password": password, "ssn": ssn},
        {"note": f"pw {password}", "id": ssn},
    )
    await conn.execute(
        "INSERT INTO workflow_run_logs (tenant, run_id, step_path, level, message) VALUES ('old', $1, 's', 'info', $2)",
        run_id,
        f"ssn {ssn}",
    )
    await conn.execute(
        """
        INSERT INTO workflow_run_steps (tenant, run_id, seq, attempt, path, step_id, step_type, status, started_at,
                                        error_json)
        VALUES ('old', $1, 0, 1, 's', 's', 'action.call', 'FAILED', now(), $2)
        """,
        run_id,
        {"message": f"bad {password}"},
    )
    return run_id


async def stored_run(conn: asyncpg.Connection, run_id: str) -> dict[str, Any]:
    row = await conn.fetchrow(
        "SELECT input_json, input_redacted, vars_json FROM workflow_runs WHERE tenant = 'old' AND run_id = $1", run_id
    )
    return dict(row)


async def test_the_migration_step_seals_plaintext_rows_once(empty_database_url: str) -> None:
    keyring = parse_keys(TEST_ENCRYPTION_KEYS)
    password, ssn = new_secrets()
    conn = await connect(empty_database_url)
    try:
        await migrations.migrate(conn, target=6, keyring=keyring)
        run_id = await insert_plaintext_run(conn, password, ssn)
        assert await columns_holding(conn, (password, ssn)) == {
            "workflow_runs.input_json",
            "workflow_runs.vars_json",
            "workflow_run_logs.message",
            "workflow_run_steps.error_json",
        }

        applied = await migrations.migrate(conn, keyring=keyring)
        assert [m.label for m in applied][:1] == ["0007_sealed_run_input"]
        first = await stored_run(conn, run_id)
        assert is_sealed(first["input_json"])
        assert keyring.open_json(first["input_json"]) == {"password": password, "ssn": ssn}
        assert first["input_redacted"] == {"password": PLACEHOLDER, "ssn": PLACEHOLDER}
        assert first["vars_json"] == {"note": f"pw {PLACEHOLDER}", "id": PLACEHOLDER}
        assert await columns_holding(conn, (password, ssn)) == set()

        # Twice is a no-op: nothing to apply, and the sealed row is not sealed again (same nonce and ciphertext).
        assert await migrations.migrate(conn, keyring=keyring) == []
        assert await stored_run(conn, run_id) == first
    finally:
        await conn.close()


async def test_runstudio_migrate_runs_the_sealing_step_with_the_configured_keyring(empty_database_url: str) -> None:
    password, ssn = new_secrets()
    conn = await connect(empty_database_url)
    try:
        await migrations.migrate(conn, target=6)
        run_id = await insert_plaintext_run(conn, password, ssn)
    finally:
        await conn.close()

    env = cli_env(RUNSTUDIO_DATABASE_URL=empty_database_url)
    first = runstudio("migrate", "--json", env=env)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["applied"][:1] == ["0007_sealed_run_input"]
    # The long part of an upgrade says how far it got, on stderr (the JSON stays one document).
    assert "sealed the plaintext input of 1 run(s) written before 0007" in first.stderr
    again = runstudio("migrate", "--json", env=env)
    assert again.returncode == 0 and json.loads(again.stdout) == {"applied": []}, again.stderr
    assert "sealed" not in again.stderr

    conn = await connect(empty_database_url)
    try:
        row = await stored_run(conn, run_id)
        # The CLI sealed it with the keyring its settings name (the test keyring in the environment).
        assert parse_keys(TEST_ENCRYPTION_KEYS).open_json(row["input_json"])["ssn"] == ssn
        assert await columns_holding(conn, (password, ssn)) == set()
    finally:
        await conn.close()
