"""``workflow_run_audit``: who did what to which run, from where, when."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from engine.store.db import Conn

INSERT = """
INSERT INTO workflow_run_audit (tenant, run_id, action, actor, source, details) VALUES ($1, $2, $3, $4, $5, $6)
"""

FOR_RUN = """
SELECT id, action, actor, source, details, created_at FROM workflow_run_audit
 WHERE tenant = $1 AND run_id = $2 ORDER BY created_at, id
"""


class AuditRow(BaseModel):
    """One audit entry."""

    model_config = ConfigDict(defer_build=True)  # built on first use: listing runs never uses it

    id: int
    action: str
    actor: str
    source: str | None
    details: dict[str, Any]
    created_at: datetime


async def record(
    conn: Conn, *, tenant: str, run_id: str, action: str, actor: str, source: str | None, details: dict[str, Any]
) -> None:
    """Append one audit entry."""
    await conn.execute(INSERT, tenant, run_id, action, actor, source, details)


async def for_run(conn: Conn, *, tenant: str, run_id: str) -> list[AuditRow]:
    """A run's audit trail, oldest first."""
    return [AuditRow(**dict(r)) for r in await conn.fetch(FOR_RUN, tenant, run_id)]
