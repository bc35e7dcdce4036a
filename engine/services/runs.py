"""Reading runs for people: keyset pages of summaries and the full (redacted) detail of one run."""

import re
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, get_args

from pydantic import BaseModel, ConfigDict, Field

from engine.errors import RunStudioError
from engine.inbound import InboundRejected, check_lookup
from engine.redaction import Redactor
from engine.run_status import RunStatus
from engine.services import run_filters
from engine.services.context import ServiceContext
from engine.store import audit, definitions, run_links, run_list, runs, steps
from engine.store.run_links import RunLink as RunLink
from engine.store.run_list import Keyset, RunSort
from engine.store.runs import RunRow

STUCK_AFTER = timedelta(seconds=60)

MAX_REPLAYS_SHOWN = 50
"""Replays listed on a run's detail (newest first)."""

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
    error_category: str | None = None
    """A FAILED or CANCELED run's error category."""
    error_line: str | None = None
    """The first line of its error message (redacted)."""
    wait_type: str | None = None
    """A WAITING run's open wait: ``time``, ``event`` or ``human``."""
    wait_event: str | None = None
    wait_key: str | None = None
    wait_timeout_at: datetime | None = None
    task_title: str | None = None
    """The title of a WAITING run's open human task."""
    current_step: str | None = None
    """The id of the step a RUNNING run is in."""


class StepView(BaseModel):
    model_config = ConfigDict(defer_build=True)  # built on first use: listing runs never uses it

    seq: int = Field(0, exclude=True)
    """The step's place in execution order (with ``attempt``, the keyset of the next page; not exported)."""
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
    model_config = ConfigDict(defer_build=True)  # built on first use: listing runs never uses it

    wait_type: str
    status: str
    event_name: str | None
    key: str | None
    step_path: str
    timeout_at: datetime | None
    payload: Any
    created_at: datetime
    resolved_at: datetime | None
    filters: list[dict[str, Any]] = []
    """An event wait's filters as authored (``[{"path", "op", "value"}]``)."""
    matched_event_id: str | None = None
    non_match: dict[str, Any] | None = None
    """``{event_id, reason, at}``: the latest event that reached the wait without satisfying it (redacted)."""


class InvocationView(BaseModel):
    model_config = ConfigDict(defer_build=True)  # built on first use: listing runs never uses it

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
    model_config = ConfigDict(defer_build=True)  # built on first use: listing runs never uses it

    event_id: str
    event_name: str
    correlation_key: str | None
    outcome: str
    relation: str
    """``started`` or ``signaled``: how the event touched this run."""
    payload: Any
    error: str | None
    received_at: datetime
    delivery: str | None = None
    """For an event signaled to the run: ``matched``, ``did not match: <reason>``, or ``None`` while undecided."""


class AuditView(BaseModel):
    model_config = ConfigDict(defer_build=True)  # built on first use: listing runs never uses it

    action: str
    actor: str
    source: str | None
    details: dict[str, Any]
    created_at: datetime


class LogView(BaseModel):
    model_config = ConfigDict(defer_build=True)  # built on first use: listing runs never uses it

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
    children: list[RunLink] = []
    """Child runs with status, workflow and times, oldest first."""
    replays: list[RunLink] = []
    """Runs replayed from this one, newest first (at most ``MAX_REPLAYS_SHOWN``)."""
    replay_of_run_id: str | None = None
    """The original run when this run is a replay."""
    steps_more: bool = Field(False, exclude=True)
    """``steps`` is only the first page (``steps_limit``): ``get_run_steps`` reads the next ones."""


def is_stuck(run: RunRow | RunSummary | run_list.SummaryRow, now: datetime) -> bool:
    """RUNNING, no step yet, and started more than ``STUCK_AFTER`` ago."""
    return run.status == "RUNNING" and run.step_count == 0 and now - run.started_at > STUCK_AFTER


async def list_runs(
    ctx: ServiceContext,
    *,
    status: str | None = None,
    workflow_id: str | None = None,
    workflow_prefix: str | None = None,
    run_id_prefix: str | None = None,
    trigger: str | None = None,
    stuck: bool = False,
    since: datetime | timedelta | None = None,
    until: datetime | None = None,
    sort: RunSort = "started",
    after: Keyset | None = None,
    limit: int = 100,
    run_ids: Sequence[str] | None = None,
    before: Keyset | None = None,
    from_end: bool = False,
) -> list[RunSummary]:
    """One keyset page of runs in ``sort`` order (newest first by default), each with why it is where it is.

    ``workflow_id`` is exact, ``workflow_prefix`` the case-insensitive start of one; ``run_id_prefix`` matches
    the start of run ids (case-insensitive); ``stuck`` keeps only stuck runs; ``since`` is a time or a
    duration back from now, ``until`` a time (started before it). ``after`` is the last row's
    ``cursor_of(run, sort)``. ``before`` (a ``cursor_of``) is the page just before that run instead, and
    ``from_end`` the last page of the list (the oldest runs, newest first): both read the sort's index backwards
    from that point, never what lies between, and return the page in list order (the studio's window moves up
    and jumps to the end with them). ``run_ids`` keeps only those runs (the studio re-reads the rows on screen).
    Only the list's columns are read: no run's input, vars or output is decoded. Filters are checked first
    (``InboundRejected``): a known status, trigger and sort, text Postgres can compare, a page size of
    1..``MAX_PAGE``.
    """
    where = _run_filter(
        ctx,
        status=status,
        workflow_id=workflow_id,
        workflow_prefix=workflow_prefix,
        run_id_prefix=run_id_prefix,
        trigger=trigger,
        stuck=stuck,
        since=since,
        until=until,
    )
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise InboundRejected("page size", "$", f"must be a whole number in 1..{MAX_PAGE}", code="range")
    sort = run_filters.check_sort(sort)
    if sum((after is not None, before is not None, from_end)) > 1:
        raise InboundRejected("page", "$", "give at most one of after, before and from_end", code="range")
    reverse = before is not None or from_end
    if before is not None:
        after = before
    if after is not None:
        after = (*after[:-1], parse_run_id(after[-1]))
    if where is None:
        return []  # text that cannot start a run id matches no run
    if run_ids is not None:
        where = replace(where, run_ids=[parse_run_id(run_id) for run_id in run_ids])
    rows = await run_list.summary_page(
        ctx.pool, tenant=ctx.tenant, where=where, sort=sort, after=after, limit=limit, reverse=reverse
    )
    now = ctx.clock()
    errors = await _error_lines(ctx, rows)
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
            error_category=errors.get(r.run_id, (None, None))[0],
            error_line=errors.get(r.run_id, (None, None))[1],
            wait_type=r.wait_type,
            wait_event=r.wait_event,
            wait_key=r.wait_key,
            wait_timeout_at=r.wait_timeout_at,
            task_title=r.task_title,
            current_step=r.current_step_id,
        )
        for r in rows
    ]


COUNT_CAP = 10_000
"""``count_runs`` counts no further (a count of every match would grow with the table)."""


async def count_runs(
    ctx: ServiceContext,
    *,
    status: str | None = None,
    workflow_id: str | None = None,
    workflow_prefix: str | None = None,
    run_id_prefix: str | None = None,
    trigger: str | None = None,
    stuck: bool = False,
    since: datetime | timedelta | None = None,
    until: datetime | None = None,
    cap: int = COUNT_CAP,
) -> int:
    """How many runs ``list_runs`` with these filters would list, counting no further than ``cap``."""
    where = _run_filter(
        ctx,
        status=status,
        workflow_id=workflow_id,
        workflow_prefix=workflow_prefix,
        run_id_prefix=run_id_prefix,
        trigger=trigger,
        stuck=stuck,
        since=since,
        until=until,
    )
    if where is None:
        return 0
    return await run_list.count(ctx.pool, tenant=ctx.tenant, where=where, cap=cap)


def cursor_of(run: RunSummary, sort: RunSort = "started") -> Keyset:
    """Where the page after ``run`` starts, in ``sort`` order (pass it to ``list_runs`` as ``after``)."""
    return run_list.keyset_of(run, sort)


def _run_filter(
    ctx: ServiceContext,
    *,
    status: str | None,
    workflow_id: str | None,
    workflow_prefix: str | None,
    run_id_prefix: str | None,
    trigger: str | None,
    stuck: bool,
    since: datetime | timedelta | None,
    until: datetime | None,
) -> run_list.RunFilter | None:
    """The checked filter (``InboundRejected`` on a bad value); ``None`` when no run can match."""
    check_run_filters(status=status, workflow_id=workflow_id)
    if run_id_prefix is not None:
        check_lookup(run_id_prefix, what="run id prefix", max_length=MAX_RUN_ID_LENGTH)
    if workflow_prefix is not None:
        check_lookup(workflow_prefix, what="workflow id prefix")
    now = ctx.clock()
    prefix = run_id_prefix.strip().lower() if run_id_prefix is not None else None
    if prefix and not _RUN_ID_ALPHABET.fullmatch(prefix):
        return None
    return run_list.RunFilter(
        status=status,
        workflow_id=workflow_id,
        workflow_prefix=workflow_prefix.strip().lower() or None if workflow_prefix is not None else None,
        run_id_prefix=prefix or None,
        trigger=run_filters.check_trigger(trigger) if trigger is not None else None,
        stuck_before=now - STUCK_AFTER if stuck else None,
        since=now - since if isinstance(since, timedelta) else since,
        until=until,
    )


_RUN_ID_ALPHABET = re.compile(r"[0-9a-f-]{1,36}")


async def _error_lines(ctx: ServiceContext, rows: Sequence[run_list.SummaryRow]) -> dict[str, tuple[str | None, str]]:
    """(category, first line of the redacted message) of each failed or canceled row's error.

    Redaction needs each run's definition: one read per distinct definition version on the page.
    """
    failed = [r for r in rows if r.error]
    paths: dict[tuple[str, int], list[str]] = {}
    for key in {(r.workflow_id, r.workflow_version) for r in failed}:
        version = await definitions.get_version(ctx.pool, tenant=ctx.tenant, workflow_id=key[0], version=key[1])
        paths[key] = list(version.definition.get("redact", [])) if version else []
    lines: dict[str, tuple[str | None, str]] = {}
    for r in failed:
        error = Redactor.for_input(r.input or {}, paths[(r.workflow_id, r.workflow_version)]).value(r.error)
        category = error.get("category") if isinstance(error, dict) else None
        message = error.get("message") if isinstance(error, dict) else None
        lines[r.run_id] = (
            category if isinstance(category, str) else None,
            run_filters.first_line(message) if isinstance(message, str) else "",
        )
    return lines


async def redactor_for(ctx: ServiceContext, run: RunRow) -> Redactor:
    """The redactor of a run as shown: its definition's ``redact`` paths and sensitive keys.

    What a run writes is stored redacted already and ``run.input`` is the redacted copy, so this is the
    second line: it still masks the secrets of a plaintext row written before the sealing step ran.
    """
    version = await definitions.get_version(
        ctx.pool, tenant=ctx.tenant, workflow_id=run.workflow_id, version=run.workflow_version
    )
    paths = list(version.definition.get("redact", [])) if version else []
    return Redactor.for_input(run.input, paths)


class StepsPage(BaseModel):
    """A keyset page of a run's step attempts (redacted)."""

    model_config = ConfigDict(defer_build=True)  # built on first use: listing runs never uses it

    steps: list[StepView]
    more: bool
    """Whether attempts follow the last one of this page."""


def _step_view(s: steps.StepRow, redactor: Redactor) -> StepView:
    return StepView(
        seq=s.seq,
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


async def _steps_page(
    ctx: ServiceContext, run: RunRow, redactor: Redactor, after: tuple[int, int] | None, limit: int
) -> StepsPage:
    # One row past the page says whether there is a next one, without counting the run's attempts.
    rows = await steps.steps_page(ctx.pool, tenant=ctx.tenant, run_id=run.run_id, after=after, limit=limit + 1)
    return StepsPage(steps=[_step_view(s, redactor) for s in rows[:limit]], more=len(rows) > limit)


async def get_run_steps(ctx: ServiceContext, run_id: str, *, after: tuple[int, int] | None, limit: int) -> StepsPage:
    """Up to ``limit`` step attempts of a run after ``after`` (a step's ``(seq, attempt)``), redacted as
    ``get_run_detail`` redacts them; ``RunNotFound`` if the run does not exist for this tenant."""
    run = await get_run(ctx, run_id)
    return await _steps_page(ctx, run, await redactor_for(ctx, run), after, limit)


async def get_run_detail(ctx: ServiceContext, run_id: str, *, steps_limit: int | None = None) -> RunDetail:
    """The redacted detail of one run; ``RunNotFound`` if it does not exist for this tenant.

    ``steps_limit``: read only the first that many step attempts (``steps_more`` says whether others follow;
    ``get_run_steps`` reads them), so a screen shows a run of thousands of steps without reading them all.
    """
    run = await get_run(ctx, run_id)
    redactor = await redactor_for(ctx, run)
    if steps_limit is None:
        step_views = [
            _step_view(s, redactor) for s in await steps.steps(ctx.pool, tenant=ctx.tenant, run_id=run.run_id)
        ]
        steps_more = False
    else:
        page = await _steps_page(ctx, run, redactor, None, steps_limit)
        step_views, steps_more = page.steps, page.more
    wait_rows = await steps.waits(ctx.pool, tenant=ctx.tenant, run_id=run.run_id)
    invocation_rows = await steps.invocations(ctx.pool, tenant=ctx.tenant, run_id=run.run_id)
    children = await run_links.children(ctx.pool, tenant=ctx.tenant, run_id=run.run_id)
    replays = await run_links.replays(ctx.pool, tenant=ctx.tenant, run_id=run.run_id, limit=MAX_REPLAYS_SHOWN)
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
        steps=step_views,
        steps_more=steps_more,
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
                filters=redactor.value(w.filters) or [],
                matched_event_id=w.matched_event_id,
                non_match=redactor.value(w.non_match),
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
                delivery=None if run.run_id in e.started_run_ids else _delivery(e.event_id, wait_rows),
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
        children=children,
        replays=replays,
        replay_of_run_id=_replay_of(run),
    )


def _delivery(event_id: str, waits: list[steps.WaitRow]) -> str | None:
    """What the run's workflow decided about an event signaled to it, as its event waits recorded."""
    for wait in waits:
        if wait.matched_event_id == event_id:
            return "matched"
    for wait in waits:
        if wait.non_match and wait.non_match.get("event_id") == event_id:
            return f"did not match: {wait.non_match.get('reason')}"
    return None


def _replay_of(run: RunRow) -> str | None:
    """The original's run id when ``run`` was started by a replay (the metadata is text: checked, not trusted)."""
    original = run.trigger_metadata.get("replayOfRunId")
    if not isinstance(original, str):
        return None
    try:
        return str(uuid.UUID(original))
    except ValueError:
        return None


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


MIN_PREFIX_HEX = 6
"""Fewest hex digits a run-id prefix may have: shorter ones match too many runs to be worth a lookup."""

MAX_CANDIDATES_SHOWN = 5
"""Candidates an ambiguous prefix lists (workflow and status each), so the caller can pick one."""


class RunIdAmbiguous(RunNotFound):
    """A run-id prefix matches more than one run; ``candidates`` lists some of them (id order)."""

    def __init__(self, message: str, candidates: list[runs.RunIdMatch]) -> None:
        super().__init__(message)
        self.candidates = candidates


def run_id_range(prefix: str) -> tuple[str, str] | None:
    """The lowest and highest canonical UUIDs starting with ``prefix``, or None if it cannot start one.

    ``prefix`` is hex digits with dashes only where a UUID has them (``b32904e2-1a``), any case; the
    range is what the store scans on the primary key.
    """
    text = prefix.strip().lower()
    digits = text.replace("-", "")
    if not digits or len(digits) > 32 or any(c not in "0123456789abcdef" for c in digits):
        return None
    lowest = str(uuid.UUID(digits.ljust(32, "0")))
    # Dashes are allowed only where the canonical spelling has them, so one prefix names one range.
    if lowest[: len(text)] != text:
        return None
    return lowest, str(uuid.UUID(digits.ljust(32, "f")))


async def resolve_run_id(ctx: ServiceContext, text: object) -> str:
    """The full id of the run ``text`` names: a whole UUID (any spelling) or a unique prefix of 6+ hex digits.

    One indexed lookup for this tenant either way. ``RunNotFound`` when no run has that id or starts
    with that prefix, or the text is too short or not hex; ``RunIdAmbiguous`` (listing up to
    ``MAX_CANDIDATES_SHOWN`` candidates with workflow and status) when several runs start with it.
    """
    if not isinstance(text, str) or len(text) > MAX_RUN_ID_LENGTH:
        return parse_run_id(text)  # raises with the reason
    try:
        whole: str | None = str(uuid.UUID(text))
    except ValueError:
        whole = None
    bounds = (whole, whole) if whole is not None else run_id_range(text)
    if bounds is None:
        raise RunNotFound(
            f"{text!a} is not a run id (a UUID, or a prefix of at least {MIN_PREFIX_HEX} hex characters); "
            "`runstudio runs` lists them"
        )
    shown = whole or text.strip().lower()
    if len(shown.replace("-", "")) < MIN_PREFIX_HEX:
        raise RunNotFound(
            f"run id prefix {shown!a} is too short: give at least {MIN_PREFIX_HEX} hex characters "
            "(`runstudio runs` lists the ids)"
        )
    found = await runs.runs_with_id_between(
        ctx.pool, tenant=ctx.tenant, lowest=bounds[0], highest=bounds[1], limit=MAX_CANDIDATES_SHOWN + 1
    )
    if not found:
        what = f"run {whole}" if whole is not None else f"run id starting with {shown}"
        raise RunNotFound(f"no {what} for tenant {ctx.tenant!r}; `runstudio runs` lists them")
    if len(found) > 1:
        listed = found[:MAX_CANDIDATES_SHOWN]
        count = f"more than {MAX_CANDIDATES_SHOWN}" if len(found) > MAX_CANDIDATES_SHOWN else str(len(found))
        choices = ", ".join(f"{m.run_id} ({m.workflow_id}, {m.status})" for m in listed)
        raise RunIdAmbiguous(
            f"run id prefix {shown} matches {count} runs; give more characters of one of: {choices}", listed
        )
    return found[0].run_id
