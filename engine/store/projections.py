"""Writes a workflow's projection (steps, waits, tasks, run row) in one transaction.

Every write is an idempotent upsert keyed by what the workflow numbered deterministically, and a
closed row never goes back to open, so a projection delivered twice or late changes nothing.
"""

from typing import Any

import asyncpg

from engine.interpreter.effects import StepRecord
from engine.temporal.contracts import Projection, RunPatch, TaskRecord, WaitRecord

UPSERT_STEP = """
INSERT INTO workflow_run_steps (tenant, run_id, seq, attempt, path, step_id, step_type, iteration, status,
                                started_at, completed_at, duration_ms, error_json)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
ON CONFLICT (tenant, run_id, seq, attempt) DO UPDATE
   SET status = EXCLUDED.status, completed_at = EXCLUDED.completed_at,
       duration_ms = EXCLUDED.duration_ms, error_json = EXCLUDED.error_json
 WHERE workflow_run_steps.status = 'STARTED'
"""

UPSERT_WAIT = """
INSERT INTO workflow_run_waits (tenant, run_id, seq, step_path, wait_type, event_name, correlation_key, filters,
                                timeout_at, status, payload, resolved_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT (tenant, run_id, seq) DO UPDATE
   SET status = EXCLUDED.status, payload = EXCLUDED.payload, resolved_at = EXCLUDED.resolved_at
 WHERE workflow_run_waits.status = 'WAITING'
"""

UPSERT_TASK = """
INSERT INTO workflow_tasks (tenant, task_id, run_id, seq, step_path, task_type, title, description, form_schema,
                            context_data, status, timeout_at, response, completed_by, completed_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
ON CONFLICT (tenant, task_id) DO UPDATE
   SET status = EXCLUDED.status, response = EXCLUDED.response, completed_by = EXCLUDED.completed_by,
       completed_at = EXCLUDED.completed_at
 WHERE workflow_tasks.status = 'OPEN'
"""

# A closed run only accepts another closing patch (the same one, redelivered).
PATCH_RUN = """
UPDATE workflow_runs
   SET status            = coalesce($3, status),
       vars_json         = coalesce($4, vars_json),
       output_json       = CASE WHEN $9::timestamptz IS NULL THEN output_json ELSE $5 END,
       error_json        = CASE WHEN $9::timestamptz IS NULL THEN error_json ELSE $6 END,
       current_step_path = $7,
       step_count        = greatest(step_count, coalesce($8, 0)),
       completed_at      = coalesce($9, completed_at),
       updated_at        = now()
 WHERE tenant = $1 AND run_id = $2 AND (completed_at IS NULL OR $9::timestamptz IS NOT NULL)
"""


def _step_args(tenant: str, run_id: str, s: StepRecord) -> tuple[Any, ...]:
    duration = None
    if s.completed_at is not None:
        duration = int((s.completed_at - s.started_at).total_seconds() * 1000)
    return (
        tenant,
        run_id,
        s.seq,
        s.attempt,
        s.path,
        s.step_id,
        s.step_type,
        s.iteration,
        s.status,
        s.started_at,
        s.completed_at,
        duration,
        s.error,
    )


def _wait_args(tenant: str, run_id: str, w: WaitRecord) -> tuple[Any, ...]:
    return (
        tenant,
        run_id,
        w.seq,
        w.step_path,
        w.wait_type,
        w.event_name,
        w.correlation_key,
        w.filters,
        w.timeout_at,
        w.status,
        w.payload,
        w.resolved_at,
    )


def _task_args(tenant: str, run_id: str, t: TaskRecord) -> tuple[Any, ...]:
    return (
        tenant,
        t.task_id,
        run_id,
        t.seq,
        t.step_path,
        t.task_type,
        t.title,
        t.description,
        t.form_schema,
        t.context_data,
        t.status,
        t.timeout_at,
        t.response,
        t.completed_by,
        t.completed_at,
    )


def _run_args(tenant: str, run_id: str, p: RunPatch) -> tuple[Any, ...]:
    return (tenant, run_id, p.status, p.vars, p.output, p.error, p.current_step_path, p.step_count, p.completed_at)


async def apply(conn: asyncpg.Connection, projection: Projection) -> None:
    """Write the projection atomically (the caller's transaction, or one of its own)."""
    tenant, run_id = projection.tenant, projection.run_id
    async with conn.transaction():
        if projection.steps:
            await conn.executemany(UPSERT_STEP, [_step_args(tenant, run_id, s) for s in projection.steps])
        if projection.waits:
            await conn.executemany(UPSERT_WAIT, [_wait_args(tenant, run_id, w) for w in projection.waits])
        if projection.tasks:
            await conn.executemany(UPSERT_TASK, [_task_args(tenant, run_id, t) for t in projection.tasks])
        if projection.run is not None:
            await conn.execute(PATCH_RUN, *_run_args(tenant, run_id, projection.run))
