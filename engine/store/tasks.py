"""Reads of ``workflow_tasks`` (the workflow writes them through its projection)."""

from datetime import datetime
from typing import Any

import asyncpg
from pydantic import BaseModel

from engine.store.db import Conn

# Each task comes with what redacting it needs: its run's unredacted input and its definition's
# redact paths (context data is usually copied from the input, secrets included).
_TASK_COLUMNS = """
t.task_id::text AS task_id, t.run_id::text AS run_id, r.workflow_id, r.workflow_version, t.step_path, t.task_type,
t.title, t.description, t.status, t.form_schema, t.context_data, t.response, t.completed_by, t.created_at,
t.timeout_at, t.completed_at, r.input_json AS run_input, coalesce(v.definition -> 'redact', '[]'::jsonb) AS redact
"""

_TASK_JOINS = """
  FROM workflow_tasks t
  JOIN workflow_runs r ON r.tenant = t.tenant AND r.run_id = t.run_id
  LEFT JOIN workflow_definition_versions v
    ON v.tenant = r.tenant AND v.workflow_id = r.workflow_id AND v.version = r.workflow_version
"""

# Served by the partial index on open tasks (tenant, created_at DESC).
LIST_OPEN = f"""
SELECT {_TASK_COLUMNS} {_TASK_JOINS}
 WHERE t.tenant = $1 AND t.status = 'OPEN'
 ORDER BY t.created_at DESC, t.task_id DESC
 LIMIT $2
"""

GET_TASK = f"SELECT {_TASK_COLUMNS} {_TASK_JOINS} WHERE t.tenant = $1 AND t.task_id = $2::uuid"

# Serialises completions of one task (two operators at once) without locking the row itself, which the
# workflow's projection must be able to update while a completion waits for it.
LOCK_TASK = "SELECT pg_advisory_xact_lock(hashtextextended('workflow_tasks:' || $1 || ':' || $2, 0))"


class TaskRow(BaseModel):
    """A task as stored (``run_input`` unredacted: only for building the redactor)."""

    task_id: str
    run_id: str
    workflow_id: str
    workflow_version: int
    step_path: str
    task_type: str
    title: str
    description: str | None
    status: str
    form_schema: dict[str, Any]
    context_data: Any
    response: Any
    completed_by: str | None
    created_at: datetime
    timeout_at: datetime | None
    completed_at: datetime | None
    run_input: dict[str, Any]
    redact: list[str]


async def list_open(conn: Conn, *, tenant: str, limit: int = 500) -> list[TaskRow]:
    """Open tasks, newest first."""
    return [TaskRow(**dict(r)) for r in await conn.fetch(LIST_OPEN, tenant, limit)]


async def get(conn: Conn, *, tenant: str, task_id: str) -> TaskRow | None:
    """One task, or None (``task_id`` must be a UUID)."""
    row = await conn.fetchrow(GET_TASK, tenant, task_id)
    return None if row is None else TaskRow(**dict(row))


async def lock_task(conn: asyncpg.Connection, *, tenant: str, task_id: str) -> None:
    """Hold a lock on completing this task until the caller's transaction ends."""
    await conn.execute(LOCK_TASK, tenant, task_id)
