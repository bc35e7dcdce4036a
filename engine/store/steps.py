"""Reads of a run's step attempts, waits and invocations (the run detail)."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from engine.store.db import Conn

RUN_STEPS = """
SELECT seq, attempt, path, step_id, step_type, iteration, status, started_at, completed_at, duration_ms, error_json
  FROM workflow_run_steps WHERE tenant = $1 AND run_id = $2 ORDER BY seq, attempt
"""

RUN_WAITS = """
SELECT seq, step_path, wait_type, event_name, correlation_key, filters, timeout_at, status, payload, created_at,
       resolved_at, matched_event_id, non_match
  FROM workflow_run_waits WHERE tenant = $1 AND run_id = $2 ORDER BY seq
"""

RUN_INVOCATIONS = """
SELECT id, idempotency_key, seq, step_path, action, action_version, attempt, status, input_json, output_json,
       error_json, created_at, completed_at
  FROM workflow_action_invocations WHERE tenant = $1 AND run_id = $2 ORDER BY id
"""


RUN_STEPS_PAGE = """
SELECT seq, attempt, path, step_id, step_type, iteration, status, started_at, completed_at, duration_ms, error_json
  FROM workflow_run_steps
 WHERE tenant = $1 AND run_id = $2 AND (seq, attempt) > ($3, $4)
 ORDER BY seq, attempt
 LIMIT $5
"""
"""A keyset page of a run's step attempts, after ``(seq, attempt)``, on the primary key's order."""


class StepRow(BaseModel):
    """One step attempt."""

    seq: int
    attempt: int
    path: str
    step_id: str
    step_type: str
    iteration: str | None
    status: str
    started_at: datetime
    completed_at: datetime | None
    duration_ms: int | None
    error: dict[str, Any] | None


class WaitRow(BaseModel):
    """One wait."""

    model_config = ConfigDict(defer_build=True)  # built on first use: listing runs never uses it

    seq: int
    step_path: str
    wait_type: str
    event_name: str | None
    correlation_key: str | None
    filters: list[dict[str, Any]] | None
    timeout_at: datetime | None
    status: str
    payload: Any
    created_at: datetime
    resolved_at: datetime | None
    matched_event_id: str | None = None
    """The event that resolved an event wait."""
    non_match: dict[str, Any] | None = None
    """``{event_id, reason, at}`` of the latest event that reached the wait without satisfying it."""


class InvocationRow(BaseModel):
    """One ledger entry (input/output unredacted: redact before showing)."""

    model_config = ConfigDict(defer_build=True)  # built on first use: listing runs never uses it

    id: int
    idempotency_key: str
    seq: int
    step_path: str
    action: str
    action_version: int
    attempt: int
    status: str
    input: Any
    output: Any
    error: dict[str, Any] | None
    created_at: datetime
    completed_at: datetime | None


async def steps(conn: Conn, *, tenant: str, run_id: str) -> list[StepRow]:
    """Every step attempt of a run, in execution order."""
    return [
        StepRow(error=r["error_json"], **{k: v for k, v in dict(r).items() if k != "error_json"})
        for r in await conn.fetch(RUN_STEPS, tenant, run_id)
    ]


async def steps_page(
    conn: Conn, *, tenant: str, run_id: str, after: tuple[int, int] | None, limit: int
) -> list[StepRow]:
    """Up to ``limit`` step attempts of a run after ``after`` (``(seq, attempt)``; ``None``: from the first)."""
    seq, attempt = after if after is not None else (-1, 0)
    return [
        StepRow(error=r["error_json"], **{k: v for k, v in dict(r).items() if k != "error_json"})
        for r in await conn.fetch(RUN_STEPS_PAGE, tenant, run_id, seq, attempt, limit)
    ]


async def waits(conn: Conn, *, tenant: str, run_id: str) -> list[WaitRow]:
    """Every wait of a run, in order."""
    return [WaitRow(**dict(r)) for r in await conn.fetch(RUN_WAITS, tenant, run_id)]


async def invocations(conn: Conn, *, tenant: str, run_id: str) -> list[InvocationRow]:
    """Every ledger entry of a run, in order."""
    rows = []
    for r in await conn.fetch(RUN_INVOCATIONS, tenant, run_id):
        data = dict(r)
        data["input"] = data.pop("input_json")
        data["output"] = data.pop("output_json")
        data["error"] = data.pop("error_json")
        rows.append(InvocationRow(**data))
    return rows


RUN_EVENTS = """
SELECT event_id, event_name, payload, correlation_key, source, outcome, started_run_ids::text[] AS started_run_ids,
       signaled_run_ids::text[] AS signaled_run_ids, error, received_at
  FROM workflow_runtime_events
 WHERE tenant = $1 AND (started_run_ids @> ARRAY[$2::uuid] OR signaled_run_ids @> ARRAY[$2::uuid])
 ORDER BY received_at, event_id
"""

RUN_LOGS = """
SELECT step_path, level, message, created_at FROM workflow_run_logs WHERE tenant = $1 AND run_id = $2 ORDER BY id
"""


class EventRow(BaseModel):
    """An inbound event that started or signaled the run (payload unredacted)."""

    model_config = ConfigDict(defer_build=True)  # built on first use: listing runs never uses it

    event_id: str
    event_name: str
    payload: Any
    correlation_key: str | None
    source: str
    outcome: str
    started_run_ids: list[str]
    signaled_run_ids: list[str]
    error: str | None
    received_at: datetime


class LogRow(BaseModel):
    """A log line written on the run by ``core.log``."""

    model_config = ConfigDict(defer_build=True)  # built on first use: listing runs never uses it

    step_path: str
    level: str
    message: str
    created_at: datetime


async def events(conn: Conn, *, tenant: str, run_id: str) -> list[EventRow]:
    """Events that started or signaled the run, oldest first."""
    return [EventRow(**dict(r)) for r in await conn.fetch(RUN_EVENTS, tenant, run_id)]


async def logs(conn: Conn, *, tenant: str, run_id: str) -> list[LogRow]:
    """The run's log lines, in order."""
    return [LogRow(**dict(r)) for r in await conn.fetch(RUN_LOGS, tenant, run_id)]
