"""Queries behind schedules: which definitions' latest versions are scheduled, and their latest scheduled runs."""

from typing import Any

from pydantic import BaseModel

from engine.store.db import Conn

_SCHEDULED_COLUMNS = """
SELECT d.tenant, d.workflow_id, v.version, v.definition -> 'trigger' AS trigger
  FROM workflow_definitions d
  JOIN workflow_definition_versions v
    ON v.tenant = d.tenant AND v.workflow_id = d.workflow_id AND v.version = d.latest_version
 WHERE v.trigger_type = 'schedule'
"""

SCHEDULED_LATEST = f"{_SCHEDULED_COLUMNS} ORDER BY d.tenant, d.workflow_id"

TENANT_SCHEDULED_LATEST = f"{_SCHEDULED_COLUMNS} AND d.tenant = $1 ORDER BY d.workflow_id"

ONE_SCHEDULED_LATEST = f"{_SCHEDULED_COLUMNS} AND d.tenant = $1 AND d.workflow_id = $2"

EVER_SCHEDULED = """
SELECT EXISTS (SELECT 1 FROM workflow_definition_versions
                WHERE tenant = $1 AND workflow_id = $2 AND trigger_type = 'schedule')
"""

# Uses workflow_runs_by_trigger (tenant, trigger, started_at DESC, run_id DESC).
LAST_SCHEDULED_RUNS = """
SELECT DISTINCT ON (workflow_id) workflow_id, run_id::text AS run_id, status, started_at
  FROM workflow_runs
 WHERE tenant = $1 AND trigger = 'schedule' AND workflow_id = ANY($2::text[])
 ORDER BY workflow_id, started_at DESC, run_id DESC
"""


class ScheduledDefinition(BaseModel):
    """A definition whose latest version has a schedule trigger."""

    tenant: str
    workflow_id: str
    version: int
    trigger: dict[str, Any]
    """The trigger as authored (``type``, ``cron``, ``timezone``, …)."""


class LastScheduledRun(BaseModel):
    """The latest run a schedule started for one workflow."""

    workflow_id: str
    run_id: str
    status: str


async def scheduled_latest(conn: Conn, *, tenant: str | None = None) -> list[ScheduledDefinition]:
    """The scheduled definitions of ``tenant``, or of every tenant when it is None (the reconciler's view)."""
    rows = await (conn.fetch(SCHEDULED_LATEST) if tenant is None else conn.fetch(TENANT_SCHEDULED_LATEST, tenant))
    return [ScheduledDefinition(**dict(row)) for row in rows]


async def scheduled_one(conn: Conn, *, tenant: str, workflow_id: str) -> ScheduledDefinition | None:
    """``workflow_id`` if its latest version has a schedule trigger, else None."""
    row = await conn.fetchrow(ONE_SCHEDULED_LATEST, tenant, workflow_id)
    return None if row is None else ScheduledDefinition(**dict(row))


async def last_scheduled_runs(conn: Conn, *, tenant: str, workflow_ids: list[str]) -> dict[str, LastScheduledRun]:
    """For each workflow id, its latest run with trigger ``schedule`` (absent when it has none)."""
    rows = await conn.fetch(LAST_SCHEDULED_RUNS, tenant, workflow_ids)
    return {row["workflow_id"]: LastScheduledRun(**dict(row)) for row in rows}


async def ever_scheduled(conn: Conn, *, tenant: str, workflow_id: str) -> bool:
    """Whether any version of ``workflow_id`` has a schedule trigger (only then can Temporal hold a schedule)."""
    return bool(await conn.fetchval(EVER_SCHEDULED, tenant, workflow_id))
