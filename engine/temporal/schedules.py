"""Temporal Schedules for definitions with a schedule trigger: one per (tenant, workflow id), latest version.

The schedule id is ``runstudio:schedule:<tenant>:<workflow_id>``. Its action starts the one workflow
type in launcher mode (``RunInput.scheduled``): that short workflow runs the ``launch_scheduled_run``
activity, which starts the run through the same launcher as a manual start (run row first, trigger
``schedule``, the schedule id and nominal time in the trigger metadata).

Policies:

- **Overlap: SKIP.** The action is the launcher, which ends once its run is started (milliseconds), so
  SKIP only stops launches piling up behind one that cannot finish (Postgres away: it retries for up to
  15 minutes, and the actions due meanwhile are skipped rather than queued). The *runs* a schedule starts
  are independent runs, like manual starts: a slow run does not hold back the next one.
- **Catch-up window: 5 minutes.** If Temporal itself was down when an action was due, the action still
  happens when it returns within 5 minutes; older missed actions are dropped, so an outage does not end
  in a burst of stale runs.
- **Pause and trigger.** A paused schedule takes no action on its own; ``trigger`` (one action now) still
  works while paused — an operator asking for one run is deliberate, and Temporal allows it.

Temporal turns a cron into calendar ranges when it stores a schedule, so the cron as authored rides in
the action's input (``ScheduledLaunch.cron``), where :func:`describe` reads it back.
"""

import dataclasses
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Final

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleDescription,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from engine.dsl.models import ScheduleTrigger
from engine.temporal import TASK_QUEUE, WORKFLOW_NAME, visibility
from engine.temporal.contracts import RunInput, ScheduledLaunch
from engine.temporal.memo import plain_memo
from engine.temporal.visibility import run_memo

SCHEDULE_ID_PREFIX: Final = "runstudio:schedule:"
OVERLAP: Final = ScheduleOverlapPolicy.SKIP
CATCHUP_WINDOW: Final = timedelta(minutes=5)
TRIGGER: Final = "schedule"

LAUNCHER_TRIGGER: Final = "schedule-launcher"
"""The trigger search attribute of a launcher workflow. Launchers are not runs: they carry no
``RunStudioWorkflowId``, so a query by workflow id finds exactly the runs (each launched run carries its own)."""
"""The run trigger of everything a schedule starts (the launcher's search attributes say it too)."""


def schedule_id(tenant: str, workflow_id: str) -> str:
    """``runstudio:schedule:<tenant>:<workflow_id>``."""
    return f"{SCHEDULE_ID_PREFIX}{tenant}:{workflow_id}"


@dataclasses.dataclass(frozen=True)
class ScheduleView:
    """One schedule as Temporal holds it."""

    schedule_id: str
    tenant: str
    workflow_id: str
    version: int
    cron: str
    timezone: str | None
    paused: bool
    note: str | None
    next_action_times: list[datetime]
    last_action_time: datetime | None
    recent_launchers: list[str]
    """The Temporal workflow ids of the latest actions' launchers, oldest first (run ids derive from them)."""


def build_schedule(
    tenant: str, workflow_id: str, version: int, trigger: ScheduleTrigger, *, state: ScheduleState | None = None
) -> Schedule:
    """The schedule for ``workflow_id`` v``version`` of ``tenant`` (``state`` keeps a pause across updates)."""
    sid = schedule_id(tenant, workflow_id)
    launch = ScheduledLaunch(
        workflow_id=workflow_id, version=version, schedule_id=sid, cron=trigger.cron, timezone=trigger.timezone
    )
    action = ScheduleActionStartWorkflow(
        WORKFLOW_NAME,
        RunInput(tenant=tenant, run_id="", scheduled=launch),
        # Temporal appends the nominal time to this id, which makes each launcher's id unique.
        id=sid,
        task_queue=TASK_QUEUE,
        memo=plain_memo(run_memo(tenant=tenant, workflow_id=workflow_id, version=version, trigger=LAUNCHER_TRIGGER)),
        typed_search_attributes=TypedSearchAttributes(
            [SearchAttributePair(visibility.TENANT, tenant), SearchAttributePair(visibility.TRIGGER, LAUNCHER_TRIGGER)]
        ),
    )
    spec = ScheduleSpec(
        cron_expressions=[trigger.cron],
        time_zone_name=trigger.timezone,
        jitter=timedelta(milliseconds=trigger.jitter_ms) if trigger.jitter_ms else None,
        start_at=None if trigger.start_at is None else datetime.fromisoformat(trigger.start_at),
        end_at=None if trigger.end_at is None else datetime.fromisoformat(trigger.end_at),
    )
    return Schedule(
        action=action,
        spec=spec,
        policy=SchedulePolicy(overlap=OVERLAP, catchup_window=CATCHUP_WINDOW),
        state=state or ScheduleState(),
    )


async def ensure_schedule(client: Client, tenant: str, workflow_id: str, version: int, trigger: ScheduleTrigger) -> str:
    """Create the schedule, or update it to ``version`` and ``trigger``; returns ``"created"`` or ``"updated"``.

    Idempotent. An update keeps the schedule's state (paused or not, and its note).
    """
    sid = schedule_id(tenant, workflow_id)
    try:
        await client.create_schedule(
            sid,
            build_schedule(tenant, workflow_id, version, trigger),
            memo=plain_memo({"tenant": tenant, "workflowId": workflow_id}),
        )
        return "created"
    except ScheduleAlreadyRunningError:
        pass

    def update(current: ScheduleUpdateInput) -> ScheduleUpdate:
        state = current.description.schedule.state
        return ScheduleUpdate(schedule=build_schedule(tenant, workflow_id, version, trigger, state=state))

    await client.get_schedule_handle(sid).update(update)
    return "updated"


async def delete_schedule(client: Client, tenant: str, workflow_id: str) -> bool:
    """Delete the schedule; False when there was none."""
    try:
        await client.get_schedule_handle(schedule_id(tenant, workflow_id)).delete()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def describe(client: Client, tenant: str, workflow_id: str) -> ScheduleView | None:
    """The schedule of ``workflow_id``, or None when Temporal has none."""
    sid = schedule_id(tenant, workflow_id)
    try:
        description = await client.get_schedule_handle(sid).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    return await _view(client, tenant, workflow_id, description)


async def describe_many(client: Client, tenant: str, workflow_ids: Iterable[str]) -> dict[str, ScheduleView | None]:
    """:func:`describe` for each workflow id (None where Temporal has no schedule)."""
    return {workflow_id: await describe(client, tenant, workflow_id) for workflow_id in workflow_ids}


async def list_schedule_ids(client: Client) -> list[str]:
    """Every Run Studio schedule id in the namespace, all tenants (Temporal's visibility: may lag a moment)."""
    found: list[str] = []
    async for entry in await client.list_schedules():
        if entry.id.startswith(SCHEDULE_ID_PREFIX):
            found.append(entry.id)
    return found


async def owner(client: Client, sid: str) -> tuple[str, str] | None:
    """``(tenant, workflow_id)`` from the schedule's memo (ids are not parsed: a tenant may hold ``:``)."""
    try:
        description = await client.get_schedule_handle(sid).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    memo = await description.memo()
    tenant, workflow_id = memo.get("tenant"), memo.get("workflowId")
    if isinstance(tenant, str) and isinstance(workflow_id, str):
        return tenant, workflow_id
    return None


async def pause(client: Client, tenant: str, workflow_id: str, note: str) -> None:
    """Pause the schedule with ``note`` (NOT_FOUND ``RPCError`` when there is none)."""
    await client.get_schedule_handle(schedule_id(tenant, workflow_id)).pause(note=note)


async def unpause(client: Client, tenant: str, workflow_id: str, note: str) -> None:
    """Unpause the schedule with ``note``."""
    await client.get_schedule_handle(schedule_id(tenant, workflow_id)).unpause(note=note)


async def trigger(client: Client, tenant: str, workflow_id: str) -> None:
    """Take one action now (also while paused; overlap ALLOW_ALL, so a launch in flight does not swallow it)."""
    await client.get_schedule_handle(schedule_id(tenant, workflow_id)).trigger(overlap=ScheduleOverlapPolicy.ALLOW_ALL)


async def _view(client: Client, tenant: str, workflow_id: str, description: ScheduleDescription) -> ScheduleView:
    schedule, info = description.schedule, description.info
    action = schedule.action
    launch: ScheduledLaunch | None = None
    if isinstance(action, ScheduleActionStartWorkflow) and action.args:
        decoded = await client.data_converter.decode(list(action.args), [RunInput])
        launch = decoded[0].scheduled if isinstance(decoded[0], RunInput) else None
    recent = info.recent_actions[-1] if info.recent_actions else None
    launchers = [
        result.action.workflow_id
        for result in info.recent_actions
        if isinstance(result.action, ScheduleActionExecutionStartWorkflow)
    ]
    return ScheduleView(
        schedule_id=description.id,
        tenant=tenant,
        workflow_id=workflow_id,
        version=launch.version if launch else 0,
        cron=launch.cron if launch else "",
        timezone=schedule.spec.time_zone_name or None,
        paused=schedule.state.paused,
        note=schedule.state.note or None,
        next_action_times=list(info.next_action_times),
        last_action_time=recent.started_at if recent is not None else None,
        recent_launchers=launchers,
    )
