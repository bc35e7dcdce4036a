"""Human tasks (SPEC §7): list the open ones, and complete one with a response its form schema accepts.

A decision is final once made: ``complete_task`` commits it in Postgres (status, response, who, when) and
audits it before it signals the run (``complete_task``), so exactly one completion of a task ever wins,
with or without a worker running. A signal Temporal did not take is re-sent by the reconciler
(``engine.services.reconcile.redeliver_completions``) until it lands; the workflow ignores a repeat.
"""

import asyncio
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any, Literal

from jsonschema import Draft202012Validator
from pydantic import BaseModel

from engine.errors import RunStudioError
from engine.inbound import check_actor, check_json
from engine.redaction import Redactor
from engine.schema_messages import json_message
from engine.services.audit import Actor
from engine.services.context import ServiceContext
from engine.services.when import format_when
from engine.store import audit as audit_store
from engine.store import runs as runs_store
from engine.store import tasks
from engine.store.db import Conn
from engine.store.tasks import TaskRow
from engine.temporal import workflow_id_for_run
from engine.temporal.contracts import TaskCompletion
from engine.temporal.workflow import RunWorkflow

_SIGNAL_TIMEOUT = timedelta(seconds=10)
"""A hung Temporal must not hang the operator: the completion is committed, delivery is left to the reconciler."""

log = logging.getLogger("runstudio.tasks")


class TaskNotFound(RunStudioError):
    """No task with that id for this tenant."""


class TaskNotOpen(RunStudioError):
    """The task is already completed, canceled or timed out."""


class TaskResponseInvalid(RunStudioError):
    """The response does not satisfy the task's form schema; every problem is listed with its JSON path."""

    def __init__(self, task_id: str, problems: list[str]) -> None:
        super().__init__(f"response to task {task_id} does not match its form: {'; '.join(problems)}")
        self.problems = problems


class TaskCompletionFailed(RunStudioError):
    """Kept for callers that catch it; ``complete_task`` no longer raises it (a decision is committed first)."""


class TaskView(BaseModel):
    """A task as people see it: context data, response and texts redacted like the run's input."""

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
    delivery: Literal["delivered", "pending"] | None = None
    """Set by ``complete_task``: whether Temporal took the signal (``pending``: the reconciler re-sends it)."""
    delivery_problem: str | None = None
    """Why delivery is pending."""


async def list_open_tasks(ctx: ServiceContext, *, limit: int = 500) -> list[TaskView]:
    """Open tasks of the tenant, newest first."""
    return [_view(row) for row in await tasks.list_open(ctx.pool, tenant=ctx.tenant, limit=limit)]


async def get_task(ctx: ServiceContext, task_id: str) -> TaskView:
    """One task (redacted); ``TaskNotFound`` if it does not exist for this tenant."""
    return _view(await _get_row(ctx.pool, ctx.tenant, task_id))


def response_problems(form_schema: dict[str, Any], response: Any) -> list[str]:
    """Every way ``response`` breaks ``form_schema``, each as ``$.json.path: message``; empty when valid."""
    validator = Draft202012Validator(form_schema)
    errors = sorted(validator.iter_errors(response), key=lambda e: [str(p) for p in e.absolute_path])
    return [f"{_json_path(list(e.absolute_path))}: {json_message(e)}" for e in errors]


async def complete_task(ctx: ServiceContext, task_id: str, response: Any, *, actor: Actor) -> TaskView:
    """Commit a human's decision on an OPEN task, audit it, then signal the run; return the task.

    The first valid completion is final: it is committed in Postgres (with who and when) and audited
    before Temporal hears of it, so a second completion is refused with ``TaskNotOpen`` naming who decided
    and when. Refused, changing nothing: an unknown task (``TaskNotFound``), a task that is not OPEN, has
    timed out or whose run is over (``TaskNotOpen``), a response that is not plain JSON
    (``InboundRejected``) or that the form schema rejects (``TaskResponseInvalid``).

    If Temporal does not take the signal, the decision stays committed and the view says
    ``delivery="pending"`` with why: the reconciler in the worker re-sends it until it lands.
    """
    check_json(response, what="task response")
    check_actor(actor.user, actor.source)
    task_id = _parse_task_id(task_id)
    row = await _get_row(ctx.pool, ctx.tenant, task_id)
    if row.status != "OPEN":
        raise _not_open(row)
    problems = response_problems(row.form_schema, response)
    if problems:
        raise TaskResponseInvalid(task_id, problems)
    async with ctx.pool.acquire() as conn, conn.transaction():
        completed_at = await tasks.complete(
            conn, tenant=ctx.tenant, task_id=task_id, response=response, completed_by=actor.user, now=ctx.clock()
        )
        if completed_at is None:
            raise _not_open(
                await _get_row(conn, ctx.tenant, task_id),
                run_status=await _run_status(conn, ctx.tenant, row.run_id),
                now=ctx.clock(),
            )
        await audit_store.record(
            conn,
            tenant=ctx.tenant,
            run_id=row.run_id,
            action="task.complete",
            actor=actor.user,
            source=actor.source,
            details={"task_id": task_id, "task_type": row.task_type},
        )
    completion = TaskCompletion(task_id=task_id, response=response, completed_by=actor.user)
    problem = await _signal(ctx, row.run_id, completion)
    view = _view(await _get_row(ctx.pool, ctx.tenant, task_id))
    if problem is None:
        return view.model_copy(update={"delivery": "delivered"})
    log.warning("task %s completed but not yet delivered to run %s: %s", task_id, row.run_id, problem)
    return view.model_copy(update={"delivery": "pending", "delivery_problem": problem})


async def _signal(ctx: ServiceContext, run_id: str, completion: TaskCompletion) -> str | None:
    try:
        client = await asyncio.wait_for(ctx.temporal(), _SIGNAL_TIMEOUT.total_seconds())
        handle = client.get_workflow_handle(workflow_id_for_run(run_id))
        await handle.signal(RunWorkflow.complete_task, completion, rpc_timeout=_SIGNAL_TIMEOUT)
    except Exception as exc:
        # Whatever went wrong, the decision is committed and the reconciler re-sends it: this only
        # decides what the caller is told.
        return f"Temporal at {ctx.endpoints.temporal_address} did not take the signal ({_describe(exc)})"
    await tasks.mark_signaled(ctx.pool, tenant=ctx.tenant, task_id=completion.task_id)
    return None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {_SIGNAL_TIMEOUT.seconds} s"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _not_open(row: TaskRow, *, run_status: str | None = None, now: datetime | None = None) -> TaskNotOpen:
    """Why a task cannot be completed, naming who decided it and when if someone did."""
    if row.status == "COMPLETED":
        by = row.completed_by or "an unknown user"
        when = f" at {format_when(row.completed_at)}" if row.completed_at else ""
        return TaskNotOpen(
            f"task {row.task_id} is COMPLETED by {by}{when}; that decision is final and only OPEN tasks can be "
            "completed"
        )
    if row.status != "OPEN":
        return TaskNotOpen(f"task {row.task_id} is {row.status}; only OPEN tasks can be completed")
    if row.timeout_at is not None and now is not None and row.timeout_at <= now:
        return TaskNotOpen(
            f"task {row.task_id} timed out at {format_when(row.timeout_at)}; only OPEN tasks can be completed"
        )
    return TaskNotOpen(
        f"task {row.task_id} belongs to run {row.run_id}, which is {run_status or 'gone'}; only OPEN tasks of "
        "open runs can be completed"
    )


async def _run_status(conn: Conn, tenant: str, run_id: str) -> str | None:
    run = await runs_store.get(conn, tenant=tenant, run_id=run_id)
    return None if run is None else run.status


async def _get_row(conn: Conn, tenant: str, task_id: str) -> TaskRow:
    row = await tasks.get(conn, tenant=tenant, task_id=_parse_task_id(task_id))
    if row is None:
        raise TaskNotFound(f"no task {task_id} for tenant {tenant!r}; `runstudio tasks` lists the open ones")
    return row


def _parse_task_id(task_id: str) -> str:
    if not isinstance(task_id, str) or len(task_id) > 64:  # not even text: refused before parsing
        raise TaskNotFound("a task id is a UUID (36 characters of text); `runstudio tasks` lists them")
    try:
        return str(uuid.UUID(task_id))
    except ValueError:
        raise TaskNotFound(f"{task_id!r} is not a task id (a UUID); `runstudio tasks` lists them") from None


def _view(row: TaskRow) -> TaskView:
    redactor = Redactor.for_input(row.run_input, row.redact)
    return TaskView(
        task_id=row.task_id,
        run_id=row.run_id,
        workflow_id=row.workflow_id,
        workflow_version=row.workflow_version,
        step_path=row.step_path,
        task_type=row.task_type,
        title=redactor.value(row.title),
        description=redactor.value(row.description),
        status=row.status,
        form_schema=row.form_schema,
        context_data=redactor.value(row.context_data),
        response=redactor.value(row.response),
        completed_by=row.completed_by,
        created_at=row.created_at,
        timeout_at=row.timeout_at,
        completed_at=row.completed_at,
    )


def _json_path(location: list[str | int]) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in location)
