"""Human tasks (SPEC §7): list the open ones, and complete one with a response its form schema accepts.

Completing signals the run (``complete_task``); the workflow itself projects the task COMPLETED with
``completed_by`` and resumes. ``complete_task`` returns once the signal is accepted and the projection
has landed, or after ``PROJECTION_WAIT`` at the latest — then the returned view may still say OPEN
although Temporal has the completion (the workflow projects it with its next step).
"""

import asyncio
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

from jsonschema import Draft202012Validator
from pydantic import BaseModel

from engine.errors import RunStudioError
from engine.redaction import Redactor
from engine.services import audit
from engine.services.audit import Actor
from engine.services.context import ServiceContext
from engine.store import tasks
from engine.store.db import Conn
from engine.store.tasks import TaskRow
from engine.temporal import workflow_id_for_run
from engine.temporal.contracts import TaskCompletion
from engine.temporal.workflow import RunWorkflow

PROJECTION_WAIT = timedelta(seconds=5)
"""How long ``complete_task`` waits for the workflow to project the completion."""

_POLL_INTERVAL = 0.05


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
    """Temporal did not accept the completion; nothing changed."""


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
    return [f"{_json_path(list(e.absolute_path))}: {e.message}" for e in errors]


async def complete_task(ctx: ServiceContext, task_id: str, response: Any, *, actor: Actor) -> TaskView:
    """Validate ``response`` against the task's form, signal the run, audit it, and return the task.

    Refused, changing nothing: an unknown task (``TaskNotFound``), one that is not OPEN
    (``TaskNotOpen``), a response the form schema rejects (``TaskResponseInvalid``) or a signal
    Temporal does not accept (``TaskCompletionFailed``). Completions of one task are serialised, so a
    second one waits for the first and is refused once its projection has landed.
    """
    task_id = _parse_task_id(task_id)
    async with ctx.pool.acquire() as conn, conn.transaction():
        await tasks.lock_task(conn, tenant=ctx.tenant, task_id=task_id)
        row = await _get_row(conn, ctx.tenant, task_id)
        if row.status != "OPEN":
            by = f" by {row.completed_by}" if row.completed_by else ""
            raise TaskNotOpen(f"task {task_id} is {row.status}{by}; only OPEN tasks can be completed")
        problems = response_problems(row.form_schema, response)
        if problems:
            raise TaskResponseInvalid(task_id, problems)
        completion = TaskCompletion(task_id=task_id, response=response, completed_by=actor.user)
        try:
            client = await ctx.temporal()
            handle = client.get_workflow_handle(workflow_id_for_run(row.run_id))
            await handle.signal(RunWorkflow.complete_task, completion)
        except Exception as exc:
            raise TaskCompletionFailed(
                f"Temporal did not accept the completion of task {task_id} (run {row.run_id}): "
                f"{type(exc).__name__}: {exc}. The task is still OPEN; check `runstudio doctor` and retry."
            ) from exc
        await audit.record(
            ctx, actor, run_id=row.run_id, action="task.complete", task_id=task_id, task_type=row.task_type
        )
        # Keep the lock until the workflow has projected the completion, so a concurrent second
        # completion sees COMPLETED instead of signaling again.
        row = await _await_projection(conn, ctx.tenant, task_id, row)
    return _view(row)


async def _await_projection(conn: Conn, tenant: str, task_id: str, row: TaskRow) -> TaskRow:
    deadline = time.monotonic() + PROJECTION_WAIT.total_seconds()
    while row.status == "OPEN" and time.monotonic() < deadline:
        await asyncio.sleep(_POLL_INTERVAL)
        row = await _get_row(conn, tenant, task_id)
    return row


async def _get_row(conn: Conn, tenant: str, task_id: str) -> TaskRow:
    row = await tasks.get(conn, tenant=tenant, task_id=_parse_task_id(task_id))
    if row is None:
        raise TaskNotFound(f"no task {task_id} for tenant {tenant!r}; `runstudio tasks` lists the open ones")
    return row


def _parse_task_id(task_id: str) -> str:
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
