"""``workflow_tasks``: reads, and the one write outside the workflow's projection — a human's decision.

The workflow projects tasks OPEN and (once it took the completion) COMPLETED; the projection never
reopens or overwrites a task that is no longer OPEN, so a decision committed here first stands.
"""

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from engine.store.db import Conn

# Each task comes with what redacting it on read needs: its run's input as shown (the redacted copy; the
# plaintext of a row not yet sealed) and its definition's redact paths. Tasks are stored redacted already;
# this still covers rows written before that.
_TASK_COLUMNS = """
t.task_id::text AS task_id, t.run_id::text AS run_id, r.workflow_id, r.workflow_version, t.step_path, t.task_type,
t.title, t.description, t.status, t.form_schema, t.context_data, t.response, t.completed_by, t.created_at,
t.timeout_at, t.completed_at, coalesce(r.input_redacted, r.input_json) AS run_input,
coalesce(v.definition -> 'redact', '[]'::jsonb) AS redact
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

# The first valid completion wins, decided by Postgres in one statement: a concurrent or later one finds
# the task no longer OPEN. A task past its timeout, or whose run is over, can no longer be decided.
COMPLETE_TASK = """
UPDATE workflow_tasks t
   SET status = 'COMPLETED', response = $3, completed_by = $4, completed_at = now()
  FROM workflow_runs r
 WHERE t.tenant = $1 AND t.task_id = $2::uuid AND t.status = 'OPEN'
   AND (t.timeout_at IS NULL OR t.timeout_at > $5)
   AND r.tenant = t.tenant AND r.run_id = t.run_id AND r.status IN ('RUNNING', 'WAITING')
RETURNING t.completed_at
"""

MARK_SIGNALED = """
UPDATE workflow_tasks SET completion_signaled_at = now()
 WHERE tenant = $1 AND task_id = $2::uuid AND status = 'COMPLETED'
"""

# The one deliberately cross-tenant read of this module: the reconciler serves every tenant.
TENANTS_WITH_OPEN_HUMAN_WAITS = """
SELECT DISTINCT tenant FROM workflow_run_waits WHERE wait_type = 'human' AND status = 'WAITING'
"""

# Completions committed in Postgres whose run still waits for them: never signaled (after a short grace,
# as the completing command is probably signaling right now), or signaled long ago without effect.
UNDELIVERED_COMPLETIONS = """
SELECT t.task_id::text AS task_id, t.run_id::text AS run_id, t.response, t.completed_by
  FROM workflow_run_waits w
  JOIN workflow_tasks t ON t.tenant = w.tenant AND t.run_id = w.run_id AND t.seq = w.seq
 WHERE w.tenant = $1 AND w.wait_type = 'human' AND w.status = 'WAITING'
   AND t.status = 'COMPLETED'
   AND ((t.completion_signaled_at IS NULL AND t.completed_at < $2) OR t.completion_signaled_at < $3)
 ORDER BY t.completed_at
 LIMIT $4
"""


class Completion(BaseModel):
    """A committed completion, as the workflow's ``complete_task`` signal carries it."""

    task_id: str
    run_id: str
    response: Any
    completed_by: str | None


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


async def complete(
    conn: Conn, *, tenant: str, task_id: str, response: Any, completed_by: str, now: datetime
) -> datetime | None:
    """Commit the decision if the task is still OPEN, its run open and its timeout not passed at ``now``.

    Returns when it was completed, or None when it could not be: the caller reads the row to say why.
    """
    completed_at: datetime | None = await conn.fetchval(COMPLETE_TASK, tenant, task_id, response, completed_by, now)
    return completed_at


async def mark_signaled(conn: Conn, *, tenant: str, task_id: str) -> None:
    """Temporal accepted the completion's signal: the reconciler need not send it again."""
    await conn.execute(MARK_SIGNALED, tenant, task_id)


async def tenants_with_open_human_waits(conn: Conn) -> list[str]:
    """Tenants that have a run waiting on a human task (cross-tenant: for the reconciler only)."""
    return [r["tenant"] for r in await conn.fetch(TENANTS_WITH_OPEN_HUMAN_WAITS)]


async def undelivered_completions(
    conn: Conn, *, tenant: str, completed_before: datetime, signaled_before: datetime, limit: int = 200
) -> list[Completion]:
    """Committed completions whose run still waits: never signaled, or signaled before ``signaled_before``."""
    rows = await conn.fetch(UNDELIVERED_COMPLETIONS, tenant, completed_before, signaled_before, limit)
    return [Completion(**dict(r)) for r in rows]
