"""Migrations apply in order, once, under a lock; the stranded-run migration finalises only what it must."""

import asyncio
import json
import subprocess
import sys
import uuid

import asyncpg
import pytest

from engine.store import migrations
from engine.store.db import connect
from tests.conftest import cli_env

TABLES = {
    "workflow_definitions",
    "workflow_definition_versions",
    "workflow_runs",
    "workflow_run_steps",
    "workflow_run_waits",
    "workflow_action_invocations",
    "workflow_runtime_events",
    "workflow_event_inbox",
    "workflow_tasks",
    "workflow_run_audit",
    "workflow_run_snapshots",
}


async def test_migrations_apply_on_empty_database_then_are_a_noop(empty_database_url: str) -> None:
    conn = await connect(empty_database_url)
    try:
        first = await migrations.migrate(conn)
        assert [m.version for m in first] == [m.version for m in migrations.discover()]
        tables = {r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")}
        assert tables >= TABLES
        assert await migrations.migrate(conn) == []
        assert await migrations.pending(conn) == []
        recorded = await conn.fetchval("SELECT count(*) FROM runstudio_schema_migrations")
        assert recorded == len(first)
    finally:
        await conn.close()


async def test_every_table_has_a_tenant_column(migrated_database_url: str) -> None:
    conn = await connect(migrated_database_url)
    try:
        rows = await conn.fetch(
            """SELECT t.tablename FROM pg_tables t
                WHERE t.schemaname = 'public' AND t.tablename LIKE 'workflow_%'
                  AND NOT EXISTS (SELECT 1 FROM information_schema.columns c
                                   WHERE c.table_name = t.tablename AND c.column_name = 'tenant'
                                     AND c.is_nullable = 'NO')"""
        )
        assert [r["tablename"] for r in rows] == []
    finally:
        await conn.close()


async def test_two_concurrent_migrate_processes_do_not_collide(empty_database_url: str) -> None:
    env = cli_env(RUNSTUDIO_DATABASE_URL=empty_database_url)
    cmd = [sys.executable, "-c", "from runstudio.cli import main; main()", "migrate"]
    procs = [
        await asyncio.create_subprocess_exec(*cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    outputs = [await p.communicate() for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()
    stdouts = sorted(out.decode() for out, _ in outputs)
    # Exactly one process applied the files; the other found the schema current.
    assert stdouts[0].startswith("Database schema is current")
    assert "applied 0001_schema" in stdouts[1]
    conn = await connect(empty_database_url)
    try:
        versions = [r["version"] for r in await conn.fetch("SELECT version FROM runstudio_schema_migrations")]
        assert versions == [m.version for m in migrations.discover()]
    finally:
        await conn.close()


async def test_changed_migration_file_is_refused(empty_database_url: str, tmp_path: object) -> None:
    from pathlib import Path

    directory = Path(str(tmp_path))
    (directory / "0001_one.sql").write_text("CREATE TABLE t_one (tenant text NOT NULL);")
    conn = await connect(empty_database_url)
    try:
        await migrations.migrate(conn, directory=directory)
        (directory / "0001_one.sql").write_text("CREATE TABLE t_one (tenant text);")
        with pytest.raises(migrations.MigrationError, match=r"0001_one\.sql changed after it was applied"):
            await migrations.migrate(conn, directory=directory)
    finally:
        await conn.close()


def _run(tenant: str, engine: str | None, status: str) -> tuple[object, ...]:
    completed = "now()" if status in ("SUCCEEDED", "FAILED", "CANCELED") else None
    return (tenant, uuid.uuid4(), engine, status, completed)


async def _seed_run(conn: asyncpg.Connection, tenant: str, engine: str | None, status: str) -> uuid.UUID:
    run_id = uuid.uuid4()
    await conn.execute(
        """INSERT INTO workflow_runs (tenant, run_id, workflow_id, workflow_version, status, engine, trigger,
                                      completed_at)
           VALUES ($1, $2, 'wf', 1, $3, $4, 'manual',
                   CASE WHEN $3 IN ('SUCCEEDED','FAILED','CANCELED') THEN now() - interval '1 day' END)""",
        tenant,
        run_id,
        status,
        engine,
    )
    await conn.execute(
        """INSERT INTO workflow_run_waits (tenant, run_id, seq, step_path, wait_type, event_name, status)
           VALUES ($1, $2, 1, 'root.steps[0]', 'event', 'ticket.closed', 'WAITING')""",
        tenant,
        run_id,
    )
    return run_id


async def test_stranded_run_migration_finalises_only_historical_live_runs(empty_database_url: str) -> None:
    conn = await connect(empty_database_url)
    try:
        await migrations.migrate(conn, target=1)
        seeded = {
            (engine, status): await _seed_run(conn, "acme", engine, status)
            for engine in (None, "db", "temporal")
            for status in ("RUNNING", "WAITING", "SUCCEEDED", "FAILED")
        }
        before = {r["run_id"]: dict(r) for r in await conn.fetch("SELECT * FROM workflow_runs")}
        # Only the stranded-run migration: later ones add columns, which would differ from ``before``.
        await migrations.migrate(conn, target=2)
        rows = {r["run_id"]: dict(r) for r in await conn.fetch("SELECT * FROM workflow_runs")}
        waits = {r["run_id"]: r["status"] for r in await conn.fetch("SELECT run_id, status FROM workflow_run_waits")}
        for (engine, status), run_id in seeded.items():
            row = rows[run_id]
            if engine != "temporal" and status in ("RUNNING", "WAITING"):
                assert row["status"] == "CANCELED"
                assert row["completed_at"] is not None
                error = row["error_json"]
                error = json.loads(error) if isinstance(error, str) else error
                assert error["category"] == "EngineCutover"
                assert "Temporal-only cutover" in error["message"]
                assert error["previousStatus"] == status
                assert waits[run_id] == "CANCELED"
            else:
                assert row == before[run_id], (engine, status)
                assert waits[run_id] == "WAITING"
        # Re-running the file is harmless, and a live non-Temporal run can no longer be written.
        sql = migrations.discover()[1].sql
        await conn.execute(sql)
        assert {r["run_id"]: dict(r) for r in await conn.fetch("SELECT * FROM workflow_runs")} == rows
        try:
            await _seed_run(conn, "acme", "db", "RUNNING")
        except asyncpg.CheckViolationError:
            pass
        else:
            raise AssertionError("a RUNNING run with engine 'db' must be rejected")
    finally:
        await conn.close()
