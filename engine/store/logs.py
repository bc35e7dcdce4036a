"""Log lines written on a run (by ``core.log``)."""

import asyncpg

APPEND = """
INSERT INTO workflow_run_logs (tenant, run_id, step_path, level, message) VALUES ($1, $2, $3, $4, $5)
"""


async def append(
    conn: asyncpg.Connection | asyncpg.Pool, *, tenant: str, run_id: str, step_path: str, level: str, message: str
) -> None:
    """Record one log line."""
    await conn.execute(APPEND, tenant, run_id, step_path, level, message)
