"""The reconciler: open runs whose Temporal execution is closed or missing are brought in line with Temporal,
and human decisions committed in Postgres but never signaled to their run are delivered.

The workflow projects its own end, so this only acts when that projection never happened (a run whose
start was lost, a workflow terminated from outside, a history deleted). The read-model never lies for
longer than one reconciler pass, and a completed task's decision reaches its run however long Temporal
was unreachable when it was made.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from engine import metrics
from engine.default_keyring import settings_keyring
from engine.store import launch_lock, tasks
from engine.store.run_redaction import load_redactor
from engine.temporal import workflow_id_for_run
from engine.temporal.contracts import RunResult, TaskCompletion
from engine.temporal.workflow import RunWorkflow

log = logging.getLogger("runstudio.reconciler")

GRACE = timedelta(seconds=30)
"""Runs touched more recently than this are left alone: their workflow may be about to project."""

DELIVERY_GRACE = timedelta(seconds=5)
"""A completion this recent is left to the command that made it, which is probably signaling it now."""

REDELIVER_AFTER = timedelta(minutes=10)
"""A completion Temporal took this long ago whose run still waits is sent again (the workflow ignores repeats)."""

# The one deliberately cross-tenant read: the reconciler serves every tenant, so it first asks which
# tenants have open runs (served by the partial index on open runs) and then works tenant by tenant.
TENANTS_WITH_OPEN_RUNS = """
SELECT DISTINCT tenant FROM workflow_runs WHERE status IN ('RUNNING', 'WAITING') AND updated_at < $1
"""

OPEN_RUNS = """
SELECT run_id::text AS run_id, status FROM workflow_runs
 WHERE tenant = $1 AND status IN ('RUNNING', 'WAITING') AND updated_at < $2
 ORDER BY updated_at LIMIT $3
"""

CLOSE_RUN = """
UPDATE workflow_runs
   SET status = $3, error_json = coalesce($4, error_json), vars_json = coalesce($5, vars_json),
       output_json = coalesce($6, output_json), completed_at = now(), updated_at = now()
 WHERE tenant = $1 AND run_id = $2 AND completed_at IS NULL
"""

CLOSE_WAITS = """
UPDATE workflow_run_waits SET status = 'CANCELED', resolved_at = now()
 WHERE tenant = $1 AND run_id = $2 AND status = 'WAITING'
"""

CLOSE_TASKS = """
UPDATE workflow_tasks SET status = 'CANCELED', completed_at = now()
 WHERE tenant = $1 AND run_id = $2 AND status = 'OPEN'
"""

CLOSE_STEPS = """
UPDATE workflow_run_steps SET status = 'CANCELED', completed_at = now()
 WHERE tenant = $1 AND run_id = $2 AND status = 'STARTED'
"""


@dataclass(frozen=True)
class Fix:
    """One run brought in line with Temporal."""

    tenant: str
    run_id: str
    before: str
    after: str
    reason: str


_CLOSED: dict[WorkflowExecutionStatus, tuple[str, str]] = {
    WorkflowExecutionStatus.COMPLETED: ("SUCCEEDED", "completed in Temporal"),
    WorkflowExecutionStatus.FAILED: ("FAILED", "failed in Temporal"),
    WorkflowExecutionStatus.CANCELED: ("CANCELED", "canceled in Temporal"),
    WorkflowExecutionStatus.TERMINATED: ("FAILED", "terminated in Temporal"),
    WorkflowExecutionStatus.TIMED_OUT: ("FAILED", "timed out in Temporal"),
}


async def reconcile_once(pool: asyncpg.Pool, client: Client, *, now: datetime, limit: int = 200) -> list[Fix]:
    """One pass over every tenant's open runs; return what was fixed."""
    cutoff = now - GRACE
    fixes: list[Fix] = []
    for tenant_row in await pool.fetch(TENANTS_WITH_OPEN_RUNS, cutoff):
        tenant = tenant_row["tenant"]
        for row in await pool.fetch(OPEN_RUNS, tenant, cutoff, limit):
            fix = await _reconcile_run(pool, client, tenant=tenant, run_id=row["run_id"], status=row["status"])
            if fix is not None:
                log.info("reconciled run %s (%s): %s → %s, %s", fix.run_id, tenant, fix.before, fix.after, fix.reason)
                metrics.RECONCILER_FIXES.labels(status=fix.after).inc()
                fixes.append(fix)
    return fixes


async def _reconcile_run(pool: asyncpg.Pool, client: Client, *, tenant: str, run_id: str, status: str) -> Fix | None:
    workflow_id = workflow_id_for_run(run_id)
    handle = client.get_workflow_handle(workflow_id)
    async with launch_lock.unless_launching(pool, run_id) as idle:
        if not idle:
            return None  # its launcher is still waiting for Temporal's answer: not stranded
        try:
            description = await handle.describe()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            reason = f"Temporal has no execution {workflow_id}; nothing will ever run it"
            await _close(pool, tenant, run_id, "FAILED", {"category": "Reconciled", "message": reason})
            return Fix(tenant, run_id, status, "FAILED", reason)
    closed = _CLOSED.get(description.status) if description.status is not None else None
    if closed is None:
        return None
    after, reason = closed
    error: dict[str, Any] | None = None
    result_vars: dict[str, Any] | None = None
    output: Any = None
    if after == "SUCCEEDED":
        result = await client.get_workflow_handle(workflow_id, result_type=RunResult).result()
        result_vars, output = result.vars, result.output
    else:
        error = {"category": "Reconciled", "message": f"the run was {reason} but its end was never projected"}
    await _close(pool, tenant, run_id, after, error, result_vars, output)
    return Fix(tenant, run_id, status, after, reason)


async def _close(
    pool: asyncpg.Pool,
    tenant: str,
    run_id: str,
    status: str,
    error: dict[str, Any] | None,
    result_vars: dict[str, Any] | None = None,
    output: Any = None,
) -> None:
    async with pool.acquire() as conn, conn.transaction():
        # The workflow's result holds the real values: written redacted, like every projection.
        redactor = await load_redactor(conn, tenant=tenant, run_id=run_id, keyring=settings_keyring())
        if redactor is not None:
            error, result_vars, output = redactor.value(error), redactor.value(result_vars), redactor.value(output)
        await conn.execute(CLOSE_RUN, tenant, run_id, status, error, result_vars, output)
        await conn.execute(CLOSE_WAITS, tenant, run_id)
        await conn.execute(CLOSE_TASKS, tenant, run_id)
        await conn.execute(CLOSE_STEPS, tenant, run_id)


@dataclass(frozen=True)
class Delivery:
    """One committed task completion the reconciler signaled to its run."""

    tenant: str
    task_id: str
    run_id: str
    delivered: bool
    problem: str | None = None


async def redeliver_completions(
    pool: asyncpg.Pool, client: Client, *, now: datetime, limit: int = 200
) -> list[Delivery]:
    """Signal every committed completion whose run still waits on it and that Temporal has not taken.

    A signal Temporal refuses is tried again on the next pass; one whose execution is gone is left to
    ``reconcile_once``, which closes the run.
    """
    deliveries: list[Delivery] = []
    for tenant in await tasks.tenants_with_open_human_waits(pool):
        pending = await tasks.undelivered_completions(
            pool,
            tenant=tenant,
            completed_before=now - DELIVERY_GRACE,
            signaled_before=now - REDELIVER_AFTER,
            limit=limit,
        )
        for completion in pending:
            signal = TaskCompletion(
                task_id=completion.task_id,
                response=completion.response,
                completed_by=completion.completed_by or "unknown",
            )
            handle = client.get_workflow_handle(workflow_id_for_run(completion.run_id))
            try:
                await handle.signal(RunWorkflow.complete_task, signal)
            except RPCError as exc:
                log.warning("task %s (%s): completion not delivered: %s", completion.task_id, tenant, exc.message)
                deliveries.append(Delivery(tenant, completion.task_id, completion.run_id, False, exc.message))
                continue
            await tasks.mark_signaled(pool, tenant=tenant, task_id=completion.task_id)
            log.info("task %s (%s): completion delivered to run %s", completion.task_id, tenant, completion.run_id)
            deliveries.append(Delivery(tenant, completion.task_id, completion.run_id, True))
    return deliveries
