"""Log lines written on a run (by ``core.log`` and any action through ``ActionContext.log``)."""

import asyncpg

from engine.redaction import Redactor

APPEND = """
INSERT INTO workflow_run_logs (tenant, run_id, step_path, level, message, invocation_id, attempt, line_no)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (tenant, invocation_id, attempt, line_no) WHERE invocation_id IS NOT NULL DO NOTHING
"""
"""A redelivered attempt rewrites the same (invocation, attempt, line) key, which adds nothing."""


async def append(
    conn: asyncpg.Connection | asyncpg.Pool,
    *,
    tenant: str,
    run_id: str,
    step_path: str,
    level: str,
    message: str,
    invocation_id: int | None = None,
    attempt: int | None = None,
    line_no: int | None = None,
    redactor: Redactor,
) -> None:
    """Record one log line, redacted; with ``invocation_id`` set it is written once per (invocation, attempt, line)."""
    text = redactor.value(message)
    await conn.execute(APPEND, tenant, run_id, step_path, level, text, invocation_id, attempt, line_no)
