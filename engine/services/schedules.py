"""Schedules as the CLI and the studio see them: list, pause/unpause, trigger, and keeping them in sync.

Postgres says which definitions are scheduled (their latest version has a schedule trigger); Temporal
holds each one's Temporal Schedule (:mod:`engine.temporal.schedules`). A scheduled definition Temporal has
no schedule for is listed as ``missing`` until the reconciler (or the next publish) creates it.
"""

import asyncio
import getpass
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel
from temporalio.service import RPCError, RPCStatusCode

from engine.dsl.models import ScheduleTrigger
from engine.errors import RunStudioError
from engine.inbound import check_lookup, check_text
from engine.services.context import ServiceContext
from engine.services.publish import SyncOutcome
from engine.services.scheduled_launch import scheduled_run_id
from engine.store import runs
from engine.store import schedules as store
from engine.temporal import schedules as temporal_schedules
from engine.temporal.client import temporal_unavailable

MAX_NOTE = 500
"""Characters a pause note may have."""

TRIGGER_WAIT = timedelta(seconds=10)
"""How long ``trigger_schedule`` waits to learn the run id before reporting the action as requested."""


class ScheduleNotFound(RunStudioError):
    """The workflow has no schedule (its latest version has no schedule trigger, or Temporal lacks it)."""


class ScheduleRow(BaseModel):
    """One schedule with what the CLI and the studio show."""

    schedule_id: str
    workflow_id: str
    version: int
    cron: str
    timezone: str | None
    state: Literal["active", "paused", "missing"]
    """``missing``: the latest version is scheduled but Temporal has no schedule yet (the reconciler makes it)."""
    paused: bool
    note: str | None
    next_action_times: list[datetime]
    last_action_time: datetime | None
    last_run_id: str | None
    """The latest run with trigger ``schedule`` of this workflow, from Postgres."""
    last_run_status: str | None


class Triggered(BaseModel):
    """The outcome of ``schedule trigger``: the run started, when it showed up in time."""

    schedule_id: str
    workflow_id: str
    run_id: str | None
    """None when the run had not appeared within ``TRIGGER_WAIT`` (it still will)."""
    paused: bool
    """The schedule was paused: a manual trigger runs anyway, by design."""


async def list_schedules(ctx: ServiceContext) -> list[ScheduleRow]:
    """Every scheduled definition of the tenant with its Temporal Schedule and latest scheduled run."""
    scheduled = await store.scheduled_latest(ctx.pool, tenant=ctx.tenant)
    if not scheduled:
        return []
    client = await ctx.temporal()
    ids = [item.workflow_id for item in scheduled]
    views = await temporal_schedules.describe_many(client, ctx.tenant, ids)
    last_runs = await store.last_scheduled_runs(ctx.pool, tenant=ctx.tenant, workflow_ids=ids)
    rows: list[ScheduleRow] = []
    for item in scheduled:
        view, last = views[item.workflow_id], last_runs.get(item.workflow_id)
        trigger = item.trigger
        rows.append(
            ScheduleRow(
                schedule_id=temporal_schedules.schedule_id(ctx.tenant, item.workflow_id),
                workflow_id=item.workflow_id,
                version=view.version if view else item.version,
                cron=view.cron if view and view.cron else str(trigger.get("cron", "")),
                timezone=view.timezone if view else trigger.get("timezone"),
                state="missing" if view is None else "paused" if view.paused else "active",
                paused=bool(view and view.paused),
                note=view.note if view else None,
                next_action_times=view.next_action_times if view else [],
                last_action_time=view.last_action_time if view else None,
                last_run_id=last.run_id if last else None,
                last_run_status=last.status if last else None,
            )
        )
    return rows


async def pause_schedule(ctx: ServiceContext, workflow_id: str, *, note: str | None = None) -> ScheduleRow:
    """Pause the workflow's schedule (with ``note``, or one naming who paused it) and return it."""
    return await _set_paused(ctx, workflow_id, paused=True, note=note)


async def unpause_schedule(ctx: ServiceContext, workflow_id: str, *, note: str | None = None) -> ScheduleRow:
    """Unpause the workflow's schedule and return it."""
    return await _set_paused(ctx, workflow_id, paused=False, note=note)


async def trigger_schedule(ctx: ServiceContext, workflow_id: str) -> Triggered:
    """Take one action of the schedule now (allowed while paused) and return the run it started.

    Temporal starts the launcher asynchronously; the run id is derived from the launcher's id once the
    schedule reports the new action, and returned when its row exists (``None`` after ``TRIGGER_WAIT``).
    """
    check_lookup(workflow_id, what="workflow id")
    client = await ctx.temporal()
    before = await _existing(ctx, workflow_id)
    seen = set(before.recent_launchers)
    try:
        await temporal_schedules.trigger(client, ctx.tenant, workflow_id)
    except RPCError as exc:
        raise _not_found(exc, workflow_id) from exc
    sid = temporal_schedules.schedule_id(ctx.tenant, workflow_id)
    deadline = asyncio.get_running_loop().time() + TRIGGER_WAIT.total_seconds()
    while asyncio.get_running_loop().time() < deadline:
        view = await temporal_schedules.describe(client, ctx.tenant, workflow_id)
        fresh = [launcher for launcher in (view.recent_launchers if view else []) if launcher not in seen]
        if fresh:
            run_id = scheduled_run_id(fresh[-1])
            if await runs.get(ctx.pool, tenant=ctx.tenant, run_id=run_id) is not None:
                return Triggered(schedule_id=sid, workflow_id=workflow_id, run_id=run_id, paused=before.paused)
        await asyncio.sleep(0.1)
    return Triggered(schedule_id=sid, workflow_id=workflow_id, run_id=None, paused=before.paused)


async def sync_schedule(ctx: ServiceContext, workflow_id: str) -> SyncOutcome:
    """Make Temporal match the latest version: ensure its schedule if it has a schedule trigger, else delete it."""
    client = await ctx.temporal()
    scheduled = await store.scheduled_one(ctx.pool, tenant=ctx.tenant, workflow_id=workflow_id)
    if scheduled is None:
        deleted = await temporal_schedules.delete_schedule(client, ctx.tenant, workflow_id)
        return "deleted" if deleted else "unchanged"
    trigger = ScheduleTrigger.model_validate(scheduled.trigger)
    outcome = await temporal_schedules.ensure_schedule(client, ctx.tenant, workflow_id, scheduled.version, trigger)
    return "created" if outcome == "created" else "updated"


async def sync_after_publish(ctx: ServiceContext, workflow_id: str) -> tuple[SyncOutcome | None, str | None]:
    """:func:`sync_schedule` for a publish: ``(outcome, None)``, or ``(None, warning)`` when Temporal failed.

    Never raises for Temporal: the version is published either way, and the reconciler brings the
    schedule in line once Temporal answers. Definitions that never had a schedule trigger skip Temporal.
    """
    if not await store.ever_scheduled(ctx.pool, tenant=ctx.tenant, workflow_id=workflow_id):
        return None, None
    try:
        return await sync_schedule(ctx, workflow_id), None
    except Exception as exc:
        unreachable = temporal_unavailable(exc, ctx.endpoints.temporal_address)
        reason = unreachable.summary if unreachable is not None else " ".join(str(exc).split())
        return None, (
            f"the schedule of {workflow_id} is not updated in Temporal yet ({reason}); "
            "the version is published and the worker's reconciler will update the schedule"
        )


class _Existing(BaseModel):
    paused: bool
    recent_launchers: list[str]


async def _existing(ctx: ServiceContext, workflow_id: str) -> _Existing:
    view = await temporal_schedules.describe(await ctx.temporal(), ctx.tenant, workflow_id)
    if view is None:
        raise _missing(workflow_id)
    return _Existing(paused=view.paused, recent_launchers=view.recent_launchers)


async def _set_paused(ctx: ServiceContext, workflow_id: str, *, paused: bool, note: str | None) -> ScheduleRow:
    check_lookup(workflow_id, what="workflow id")
    if note is not None:
        check_text(note, what="note", max_length=MAX_NOTE)
    client = await ctx.temporal()
    text = note or f"{'paused' if paused else 'unpaused'} by {getpass.getuser()} with runstudio"
    try:
        if paused:
            await temporal_schedules.pause(client, ctx.tenant, workflow_id, text)
        else:
            await temporal_schedules.unpause(client, ctx.tenant, workflow_id, text)
    except RPCError as exc:
        raise _not_found(exc, workflow_id) from exc
    for row in await list_schedules(ctx):
        if row.workflow_id == workflow_id:
            return row
    raise _missing(workflow_id)


def _not_found(exc: RPCError, workflow_id: str) -> Exception:
    return _missing(workflow_id) if exc.status == RPCStatusCode.NOT_FOUND else exc


def _missing(workflow_id: str) -> ScheduleNotFound:
    return ScheduleNotFound(
        f"workflow {workflow_id!r} has no schedule; its latest version needs a schedule trigger "
        "(see `runstudio schedules`)"
    )
