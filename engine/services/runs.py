"""Reading runs for people: keyset pages of summaries and the full (redacted) detail of one run."""

import uuid
from datetime import datetime, timedelta
from typing import Any, get_args

from pydantic import BaseModel

from engine.errors import RunStudioError
from engine.inbound import InboundRejected, check_lookup
from engine.redaction import Redactor
from engine.services.context import ServiceContext
from engine.store import audit, definitions, runs, steps
from engine.store.runs import RunRow
from engine.temporal.contracts import RunStatus

STUCK_AFTER = timedelta(seconds=60)

RUN_STATUSES: tuple[str, ...] = get_args(RunStatus)

MAX_RUN_ID_LENGTH = 64
"""Longer text is not a run id in any spelling (a UUID is 36 characters; braces or ``urn:uuid:`` add a few)."""

MAX_PAGE = 100_000
"""Largest page of runs one call may ask for (the studio re-reads everything it has scrolled through)."""


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
    cancel_requested_at: datetime | None = None
    """Set once Temporal accepted a cancel; the status changes only when a worker unwinds the run."""
    cancel_requested_by: str | None = None


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
    cancel_requested_at: datetime | None = None
    """Set once Temporal accepted a cancel; the status changes only when a worker unwinds the run."""
    cancel_requested_by: str | None = None
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
    """One keyset page of runs, newest first; ``run_id_prefix`` matches the start of run ids (case-insensitive).

    Filters are checked first (``InboundRejected``): a known status, a workflow id and a prefix that
    are text Postgres can compare, a page size of 1..``MAX_PAGE``.
    """
    check_run_filters(status=status, workflow_id=workflow_id)
    if run_id_prefix is not None:
        check_lookup(run_id_prefix, what="run id prefix", max_length=MAX_RUN_ID_LENGTH)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise InboundRejected("page size", "$", f"must be a whole number in 1..{MAX_PAGE}", code="range")
    if after is not None:
        after = (after[0], parse_run_id(after[1]))
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
            cancel_requested_at=r.cancel_requested_at,
            cancel_requested_by=r.cancel_requested_by,
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
        cancel_requested_at=run.cancel_requested_at,
        cancel_requested_by=run.cancel_requested_by,
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


def check_run_filters(*, status: object = None, workflow_id: object = None) -> None:
    """Refuse (``InboundRejected``) a status that is not a run status, or a workflow id that is not usable text."""
    if status is not None and status not in RUN_STATUSES:
        shown = ascii(status)[:40] if isinstance(status, str) else f"a {type(status).__name__}"
        raise InboundRejected(
            "status filter", "$", f"unknown status {shown}; use one of {', '.join(RUN_STATUSES)}", code="unknown"
        )
    if workflow_id is not None:
        check_lookup(workflow_id, what="workflow id filter")


MAX_RUN_IDS = 100_000
"""Most run ids one bulk request may name."""


def check_run_ids(run_ids: object) -> None:
    """Refuse (``InboundRejected``) anything but a list or tuple of strings as the run ids of a bulk request.

    The ids themselves are parsed one by one later, so an unknown or malformed one is reported for that
    run alone.
    """
    if not isinstance(run_ids, list | tuple):
        raise InboundRejected("run ids", "$", f"must be a list of run ids, got {type(run_ids).__name__}", code="type")
    if len(run_ids) > MAX_RUN_IDS:
        raise InboundRejected("run ids", "$", f"{len(run_ids)} ids; the limit is {MAX_RUN_IDS}", code="length")
    for index, run_id in enumerate(run_ids):
        if not isinstance(run_id, str):
            raise InboundRejected(
                "run ids", f"$[{index}]", f"a run id must be text (a UUID), got {type(run_id).__name__}", code="type"
            )


def parse_run_id(run_id: object) -> str:
    """The canonical form of a run id; ``RunNotFound`` if it is not a UUID at all (or not even text)."""
    if not isinstance(run_id, str):
        raise RunNotFound(f"a run id must be text (a UUID), got {type(run_id).__name__}")
    if len(run_id) > MAX_RUN_ID_LENGTH:
        raise RunNotFound(f"a run id is a UUID; this is {len(run_id)} characters long; `runstudio runs` lists them")
    try:
        return str(uuid.UUID(run_id))
    except ValueError:
        raise RunNotFound(f"{run_id!a} is not a run id (a UUID); `runstudio runs` lists them") from None


async def get_run(ctx: ServiceContext, run_id: str) -> RunRow:
    """The stored run (unredacted input: for services, never for display); ``RunNotFound`` if absent."""
    canonical = parse_run_id(run_id)
    run = await runs.get(ctx.pool, tenant=ctx.tenant, run_id=canonical)
    if run is None:
        raise RunNotFound(f"no run {canonical} for tenant {ctx.tenant!r}; `runstudio runs` lists them")
    return run
