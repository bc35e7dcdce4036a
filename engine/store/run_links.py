"""Reads of the runs linked to a run on its run screen: its child runs and the runs replayed from it."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from engine.store.db import Conn

_LINK_COLUMNS = """run_id::text AS run_id, workflow_id, workflow_version, status, trigger, started_at, completed_at"""

CHILD_LINKS = f"""
SELECT {_LINK_COLUMNS}
  FROM workflow_runs
 WHERE tenant = $1 AND parent_run_id = $2
 ORDER BY started_at, run_id
"""

# Served by workflow_runs_replay_of (migration 0006); the metadata holds the original's id as text.
REPLAY_LINKS = f"""
SELECT {_LINK_COLUMNS}
  FROM workflow_runs
 WHERE tenant = $1 AND trigger_metadata ? 'replayOfRunId' AND trigger_metadata ->> 'replayOfRunId' = $2
 ORDER BY started_at DESC, run_id
 LIMIT $3
"""


class RunLink(BaseModel):
    """A run as a line in another run's Children or Replays list."""

    model_config = ConfigDict(defer_build=True)  # built on first use: listing runs never uses it

    run_id: str
    workflow_id: str
    workflow_version: int
    status: str
    trigger: str
    started_at: datetime
    completed_at: datetime | None


async def children(conn: Conn, *, tenant: str, run_id: str) -> list[RunLink]:
    """The run's child runs, oldest first."""
    return [RunLink(**dict(r)) for r in await conn.fetch(CHILD_LINKS, tenant, run_id)]


async def replays(conn: Conn, *, tenant: str, run_id: str, limit: int) -> list[RunLink]:
    """Runs replayed from the run, newest first (at most ``limit``)."""
    return [RunLink(**dict(r)) for r in await conn.fetch(REPLAY_LINKS, tenant, run_id, limit)]
