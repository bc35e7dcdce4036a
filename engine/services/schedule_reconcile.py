"""One reconciler pass over schedules, all tenants: Temporal gets the schedules Postgres says should exist.

A publish updates the schedule itself, but not while Temporal is down, and someone may delete a schedule
with Temporal's own tools. This pass creates a missing schedule, updates one that lags its definition's
latest version, and deletes a Run Studio schedule whose definition's latest version has no schedule trigger.
"""

import logging

import asyncpg
from pydantic import BaseModel
from temporalio.client import Client

from engine.dsl.models import ScheduleTrigger
from engine.store import schedules as store
from engine.temporal import schedules as temporal_schedules

log = logging.getLogger("runstudio.reconciler")


class ScheduleReconciliation(BaseModel):
    """What one pass changed, as schedule ids; ``failed`` maps an id to why it could not be fixed."""

    created: list[str] = []
    updated: list[str] = []
    deleted: list[str] = []
    failed: dict[str, str] = {}


async def reconcile_schedules(
    pool: asyncpg.Pool, client: Client, *, tenant: str | None = None
) -> ScheduleReconciliation:
    """Bring every tenant's Temporal Schedules (or only ``tenant``'s) in line with the latest published versions.

    One schedule's failure (say, a cron Temporal refuses in a version published before crons were
    checked) is logged and reported, and the pass goes on with the others.
    """
    result = ScheduleReconciliation()
    expected: set[str] = set()
    for item in await store.scheduled_latest(pool, tenant=tenant):
        sid = temporal_schedules.schedule_id(item.tenant, item.workflow_id)
        expected.add(sid)
        try:
            trigger = ScheduleTrigger.model_validate(item.trigger)
            view = await temporal_schedules.describe(client, item.tenant, item.workflow_id)
            if view is not None and view.version == item.version and view.cron == trigger.cron:
                continue
            await temporal_schedules.ensure_schedule(client, item.tenant, item.workflow_id, item.version, trigger)
            (result.created if view is None else result.updated).append(sid)
        except Exception as exc:
            result.failed[sid] = " ".join(str(exc).split())
            log.warning("schedule %s could not be reconciled: %s", sid, exc)
    scope = temporal_schedules.schedule_id(tenant, "") if tenant is not None else temporal_schedules.SCHEDULE_ID_PREFIX
    for sid in await temporal_schedules.list_schedule_ids(client):
        if sid in expected or not sid.startswith(scope):
            continue
        try:
            owner = await temporal_schedules.owner(client, sid)
            if owner is None:
                continue  # not one of ours after all (no memo), or already gone
            tenant, workflow_id = owner
            # Re-read: the definition may have been published with a schedule since the list above.
            still_scheduled = await store.scheduled_one(pool, tenant=tenant, workflow_id=workflow_id)
            if still_scheduled is None and await temporal_schedules.delete_schedule(client, tenant, workflow_id):
                result.deleted.append(sid)
        except Exception as exc:
            result.failed[sid] = " ".join(str(exc).split())
            log.warning("schedule %s could not be reconciled: %s", sid, exc)
    return result
