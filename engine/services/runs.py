"""Reading runs for people: keyset pages of summaries and the full (redacted) detail of one run."""

import uuid
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from engine.errors import RunStudioError
from engine.redaction import Redactor
from engine.services.context import ServiceContext
from engine.store import audit, definitions, runs, steps
from engine.store.runs import RunRow

STUCK_AFTER = timedelta(seconds=60)


class RunNotFound(RunStudioError):
    """No run with that id for this tenant."""


class RunSummary(BaseModel):
    """One line of the runs list."""

    run_id: str
    workflow_id: str
    workflow_version: int
    status: str
    trigger: str
    stuck: bool
    started_at: datetime
    completed_at: datetime | None
    step_count: int


class StepView(BaseModel):
    path: str
    step_id: str
    type: str
    status: str
    attempt: int
    iteration: str | None
    started_at: datetime
    completed_at: datetime | None
    duration_ms: int | None
    error: dict[str, Any] | None


class WaitView(BaseModel):
    wait_type: str
    status: str
    event_name: str | None
    key: str | None
    step_path: str
    timeout_at: datetime | None
    payload: Any
    created_at: datetime
    resolved_at: datetime | None


class InvocationView(BaseModel):
    action: str
    version: int
    status: str
    idempotency_key: str
    attempt: int
    step_path: str
    input: Any
    output: Any
    error: dict[str, Any] | None


class EventView(BaseModel):
    event_id: str
    event_name: str
    correlation_key: str | None
    outcome: str
    relation: str
    """``started`` or ``signaled``: how the event touched this run."""
    payload: Any
    error: str | None
    received_at: datetime


class AuditView(BaseModel):
    action: str
    actor: str
    source: str | None
    details: dict[str, Any]
    created_at: datetime


class LogView(BaseModel):
    step_path: str
    level: str
    message: str
    created_at: datetime


class RunDetail(BaseModel):
    """Everything about one run, redacted."""

    run_id: str
    status: str
    workflow_id: str
    workflow_version: int
    engine: str | None
    trigger: str
    trigger_metadata: dict[str, Any]
    input: Any
    vars: Any
    output: Any
    error: dict[str, Any] | None
    parent_run_id: str | None
    root_run_id: str | None
    stuck: bool
    current_step_path: str | None
    step_count: int
    started_at: datetime
    completed_at: datetime | None
    steps: list[StepView]
    waits: list[WaitView]
    invocations: list[InvocationView]
    events: list[EventView]
    audit: list[AuditView]
    logs: list[LogView]
    child_run_ids: list[str]


def is_stuck(run: RunRow | RunSummary, now: datetime) -> bool:
    """RUNNING, no step yet, and started more than ``STUCK_AFTER`` ago."""
    return run.status == "RUNNING" and run.step_count == 0 and now - run.started_at > STUCK_AFTER


async def list_runs(
    ctx: ServiceContext,
    *,
    status: str | None = None,
    workflow_id: str | None = None,
    run_id_prefix: str | None = None,
    after: tuple[datetime, str] | None = None,
    limit: int = 100,
) -> list[RunSummary]:
    """One keyset page of runs, newest first; ``run_id_prefix`` matches the start of run ids (case-insensitive)."""
    prefix = run_id_prefix.strip().lower() if run_id_prefix is not None else None
    try:
        rows = await runs.list_page(
            ctx.pool,
            tenant=ctx.tenant,
            status=status,
            workflow_id=workflow_id,
            run_id_prefix=prefix or None,
            after=after,
            limit=limit,
        )
    except ValueError:
        return []  # text that cannot start a run id matches no run
    now = ctx.clock()
    return [
        RunSummary(
            run_id=r.run_id,
            workflow_id=r.workflow_id,
            workflow_version=r.workflow_version,
            status=r.status,
            trigger=r.trigger,
            stuck=is_stuck(r, now),
            started_at=r.started_at,
            completed_at=r.completed_at,
            step_count=r.step_count,
        )
        for r in rows
    ]


async def redactor_for(ctx: ServiceContext, run: RunRow) -> Redactor:
    """The redactor of a run: its definition's ``redact`` paths, sensitive keys and the secrets they hold."""
    version = await definitions.get_version(
        ctx.pool, tenant=ctx.tenant, workflow_id=run.workflow_id, version=run.workflow_version
    )
    paths = list(version.definition.get("redact", [])) if version else []
    return Redactor.for_input(run.input, paths)


async def get_run_detail(ctx: ServiceContext, run_id: str) -> RunDetail:
    """The redacted detail of one run; ``RunNotFound`` if it does not exist for this tenant."""
    run = await get_run(ctx, run_id)
    redactor = await redactor_for(ctx, run)
    step_rows = await steps.steps(ctx.pool, tenant=ctx.tenant, run_id=run.run_id)
    wait_rows = await steps.waits(ctx.pool, tenant=ctx.tenant, run_id=run.run_id)
    invocation_rows = await steps.invocations(ctx.pool, tenant=ctx.tenant, run_id=run.run_id)
    children = await runs.children(ctx.pool, tenant=ctx.tenant, run_id=run.run_id)
    event_rows = await steps.events(ctx.pool, tenant=ctx.tenant, run_id=run.run_id)
    audit_rows = await audit.for_run(ctx.pool, tenant=ctx.tenant, run_id=run.run_id)
    log_rows = await steps.logs(ctx.pool, tenant=ctx.tenant, run_id=run.run_id)
    return RunDetail(
        run_id=run.run_id,
        status=run.status,
        workflow_id=run.workflow_id,
        workflow_version=run.workflow_version,
        engine=run.engine,
        trigger=run.trigger,
        trigger_metadata=run.trigger_metadata,
        input=redactor.input(run.input),
        vars=redactor.value(run.vars),
        output=redactor.value(run.output),
        error=redactor.value(run.error),
        parent_run_id=run.parent_run_id,
        root_run_id=run.root_run_id,
        stuck=is_stuck(run, ctx.clock()),
        current_step_path=run.current_step_path,
        step_count=run.step_count,
        started_at=run.started_at,
        completed_at=run.completed_at,
        steps=[
            StepView(
                path=s.path,
                step_id=s.step_id,
                type=s.step_type,
                status=s.status,
                attempt=s.attempt,
                iteration=s.iteration,
                started_at=s.started_at,
                completed_at=s.completed_at,
                duration_ms=s.duration_ms,
                error=redactor.value(s.error),
            )
            for s in step_rows
        ],
        waits=[
            WaitView(
                wait_type=w.wait_type,
                status=w.status,
                event_name=w.event_name,
                key=w.correlation_key,
                step_path=w.step_path,
                timeout_at=w.timeout_at,
                payload=redactor.value(w.payload),
                created_at=w.created_at,
                resolved_at=w.resolved_at,
            )
            for w in wait_rows
        ],
        invocations=[
            InvocationView(
                action=i.action,
                version=i.action_version,
                status=i.status,
                idempotency_key=i.idempotency_key,
                attempt=i.attempt,
                step_path=i.step_path,
                input=redactor.value(i.input),
                output=redactor.value(i.output),
                error=redactor.value(i.error),
            )
            for i in invocation_rows
        ],
        events=[
            EventView(
                event_id=e.event_id,
                event_name=e.event_name,
                correlation_key=e.correlation_key,
                outcome=e.outcome,
                relation="started" if run.run_id in e.started_run_ids else "signaled",
                payload=redactor.value(e.payload),
                error=redactor.value(e.error),
                received_at=e.received_at,
            )
            for e in event_rows
        ],
        audit=[
            AuditView(action=a.action, actor=a.actor, source=a.source, details=a.details, created_at=a.created_at)
            for a in audit_rows
        ],
        logs=[
            LogView(step_path=g.step_path, level=g.level, message=redactor.value(g.message), created_at=g.created_at)
            for g in log_rows
        ],
        child_run_ids=[c.run_id for c in children],
    )


def parse_run_id(run_id: str) -> str:
    """The canonical form of a run id; ``RunNotFound`` if it is not a UUID at all."""
    try:
        return str(uuid.UUID(run_id))
    except ValueError:
        raise RunNotFound(f"{run_id!r} is not a run id (a UUID); `runstudio runs` lists them") from None


async def get_run(ctx: ServiceContext, run_id: str) -> RunRow:
    """The stored run (unredacted input: for services, never for display); ``RunNotFound`` if absent."""
    run = await runs.get(ctx.pool, tenant=ctx.tenant, run_id=parse_run_id(run_id))
    if run is None:
        raise RunNotFound(f"no run {run_id!r} for tenant {ctx.tenant!r}; `runstudio runs` lists them")
    return run
