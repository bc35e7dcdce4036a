"""Writes a workflow's projection (steps, waits, tasks, run row) atomically, in as few round trips as it can.

Every write is an idempotent upsert keyed by what the workflow numbered deterministically, and a
closed row never goes back to open, so a projection delivered twice or late changes nothing.

What is written passes the run's redactor first: vars, output, errors, wait payloads and filters, task
titles, descriptions and context hold no secret once in Postgres (the workflow keeps the real values).
"""

import json
from datetime import datetime
from typing import Any

import asyncpg

from engine.interpreter.effects import StepRecord
from engine.keyring import Keyring
from engine.redaction import Redactor
from engine.store.invocations import CLAIM_AFTER_PROJECTION, RECORD_AFTER, Begun, begun_from, result_args
from engine.temporal.contracts import Projection, RunPatch, TaskRecord, WaitRecord

# Steps and the run row in one statement (one round trip): the common projection, sent with every action.
# A closed run only accepts another closing patch (the same one, redelivered).
STEPS = """
WITH steps AS (
    INSERT INTO workflow_run_steps (tenant, run_id, seq, attempt, path, step_id, step_type, iteration, status,
                                    started_at, completed_at, duration_ms, error_json)
    SELECT $1, $2, s.seq, s.attempt, s.path, s.step_id, s.step_type, s.iteration, s.status, s.started_at,
           s.completed_at, s.duration_ms, s.error_json::jsonb
      FROM unnest($3::int[], $4::int[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
                  $10::timestamptz[], $11::timestamptz[], $12::int[], $13::text[])
           AS s(seq, attempt, path, step_id, step_type, iteration, status, started_at, completed_at, duration_ms,
                error_json)
    ON CONFLICT (tenant, run_id, seq, attempt) DO UPDATE
       SET status = EXCLUDED.status, completed_at = EXCLUDED.completed_at,
           duration_ms = EXCLUDED.duration_ms, error_json = EXCLUDED.error_json
     WHERE workflow_run_steps.status = 'STARTED'
    RETURNING 1
)
"""

PATCH_RUN = """
UPDATE workflow_runs
   SET status            = coalesce($14, status),
       vars_json         = coalesce($15, vars_json),
       output_json       = CASE WHEN $20::timestamptz IS NULL THEN output_json ELSE $16 END,
       error_json        = CASE WHEN $20::timestamptz IS NULL THEN error_json ELSE $17 END,
       current_step_path = $18,
       step_count        = greatest(step_count, coalesce($19, 0)),
       completed_at      = coalesce($20, completed_at),
       updated_at        = now()
 WHERE tenant = $1 AND run_id = $2 AND $21::bool AND (completed_at IS NULL OR $20::timestamptz IS NOT NULL)
"""

UPSERT_STEPS_AND_PATCH_RUN = STEPS + PATCH_RUN

# The projection sent with an action and the action's ledger write in one statement (one round trip; in
# autocommit, one commit): the claim of an impure action before it runs (invocations.CLAIM_AFTER_PROJECTION),
# or a pure action's attempt with its result once it ran (invocations.RECORD_AFTER). Every part of a WITH runs
# once and to completion whatever the last part reads, so the steps and the run row are written either way.
_RUN_CTE = ", run AS (" + PATCH_RUN + "    RETURNING 1\n)"
APPLY_AND_CLAIM = STEPS + _RUN_CTE + CLAIM_AFTER_PROJECTION
APPLY_AND_RECORD = STEPS + _RUN_CTE + RECORD_AFTER

# Which Temporal run executes the run: written once per execution, with the first projection of one that was
# started with its definition and input (and so skipped load_run, which wrote it). Not an indexed column, so the
# update stays HOT-eligible; unchanged when a redelivered projection brings the same id again.
NOTE_EXECUTION = """
UPDATE workflow_runs SET temporal_run_id = $3
 WHERE tenant = $1 AND run_id = $2 AND temporal_run_id IS DISTINCT FROM $3
"""

UPSERT_WAIT = """
INSERT INTO workflow_run_waits (tenant, run_id, seq, step_path, wait_type, event_name, correlation_key, filters,
                                timeout_at, status, payload, resolved_at, matched_event_id, non_match)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
ON CONFLICT (tenant, run_id, seq) DO UPDATE
   SET status = EXCLUDED.status, payload = EXCLUDED.payload, resolved_at = EXCLUDED.resolved_at,
       matched_event_id = EXCLUDED.matched_event_id,
       non_match = coalesce(EXCLUDED.non_match, workflow_run_waits.non_match)
 WHERE workflow_run_waits.status = 'WAITING'
"""

# Waits, steps and the run row in one statement (issue 16): what opening and closing a wait projects, so a run
# reacting to an event (its wait resolved, its last steps, the run row SUCCEEDED) costs one round trip and one
# commit instead of BEGIN, the wait upsert, the run update and COMMIT. The waits part is UPSERT_WAIT for many
# rows (unnest); Postgres refuses to upsert one row twice in a statement, so only distinct seqs come here.
# jsonb values travel as JSON text (NULL stays NULL), as the connection's jsonb codec would send them.
UPSERT_WAITS_STEPS_AND_PATCH_RUN = """
WITH waits AS (
    INSERT INTO workflow_run_waits (tenant, run_id, seq, step_path, wait_type, event_name, correlation_key, filters,
                                    timeout_at, status, payload, resolved_at, matched_event_id, non_match)
    SELECT $1, $2, w.seq, w.step_path, w.wait_type, w.event_name, w.correlation_key, w.filters::jsonb, w.timeout_at,
           w.status, w.payload::jsonb, w.resolved_at, w.matched_event_id, w.non_match::jsonb
      FROM unnest($22::int[], $23::text[], $24::text[], $25::text[], $26::text[], $27::text[], $28::timestamptz[],
                  $29::text[], $30::text[], $31::timestamptz[], $32::text[], $33::text[])
           AS w(seq, step_path, wait_type, event_name, correlation_key, filters, timeout_at, status, payload,
                resolved_at, matched_event_id, non_match)
    ON CONFLICT (tenant, run_id, seq) DO UPDATE
       SET status = EXCLUDED.status, payload = EXCLUDED.payload, resolved_at = EXCLUDED.resolved_at,
           matched_event_id = EXCLUDED.matched_event_id,
           non_match = coalesce(EXCLUDED.non_match, workflow_run_waits.non_match)
     WHERE workflow_run_waits.status = 'WAITING'
    RETURNING 1
),""" + UPSERT_STEPS_AND_PATCH_RUN.replace("WITH steps AS", "steps AS", 1)

# A task row the service already committed COMPLETED keeps its response, completed_by and completed_at:
# only an OPEN row is updated, so neither a late OPEN re-projection nor the workflow's own close changes it.
UPSERT_TASK = """
INSERT INTO workflow_tasks (tenant, task_id, run_id, seq, step_path, task_type, title, description, form_schema,
                            context_data, status, timeout_at, response, completed_by, completed_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
ON CONFLICT (tenant, task_id) DO UPDATE
   SET status = EXCLUDED.status, response = EXCLUDED.response, completed_by = EXCLUDED.completed_by,
       completed_at = EXCLUDED.completed_at
 WHERE workflow_tasks.status = 'OPEN'
"""


# The last-resort projection of a run that cannot go on: only the run row and the closing of what it left
# open, with values the caller has sanitised, so this write cannot fail on what the run carried.
FAIL_RUN = """
WITH waits AS (
    UPDATE workflow_run_waits SET status = 'CANCELED', resolved_at = $4
     WHERE tenant = $1 AND run_id = $2 AND status = 'WAITING'
    RETURNING 1
), tasks AS (
    UPDATE workflow_tasks SET status = 'CANCELED', completed_at = $4
     WHERE tenant = $1 AND run_id = $2 AND status = 'OPEN'
    RETURNING 1
)
UPDATE workflow_runs
   SET status = 'FAILED', error_json = $3::text::jsonb, completed_at = $4, updated_at = now()
 WHERE tenant = $1 AND run_id = $2 AND completed_at IS NULL
"""


def _steps_columns(steps: list[StepRecord]) -> tuple[list[Any], ...]:
    """The step records as one array per column, for ``unnest``."""
    columns: tuple[list[Any], ...] = tuple([] for _ in range(11))
    for step in steps:
        duration = None
        if step.completed_at is not None:
            duration = int((step.completed_at - step.started_at).total_seconds() * 1000)
        row = (
            step.seq,
            step.attempt,
            step.path,
            step.step_id,
            step.step_type,
            step.iteration,
            step.status,
            step.started_at,
            step.completed_at,
            duration,
            None if step.error is None else json.dumps(step.error),
        )
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    return columns


def _wait_args(tenant: str, run_id: str, w: WaitRecord) -> tuple[Any, ...]:
    return (
        tenant,
        run_id,
        w.seq,
        w.step_path,
        w.wait_type,
        w.event_name,
        w.correlation_key,
        w.filters,
        w.timeout_at,
        w.status,
        w.payload,
        w.resolved_at,
        w.matched_event_id,
        None if w.non_match is None else w.non_match.model_dump(mode="json"),
    )


def _task_args(tenant: str, run_id: str, t: TaskRecord) -> tuple[Any, ...]:
    return (
        tenant,
        t.task_id,
        run_id,
        t.seq,
        t.step_path,
        t.task_type,
        t.title,
        t.description,
        t.form_schema,
        t.context_data,
        t.status,
        t.timeout_at,
        t.response,
        t.completed_by,
        t.completed_at,
    )


def _run_args(p: RunPatch | None) -> tuple[Any, ...]:
    if p is None:
        return (None, None, None, None, None, None, None)
    return (p.status, p.vars, p.output, p.error, p.current_step_path, p.step_count, p.completed_at)


def redacted(projection: Projection, redactor: Redactor) -> Projection:
    """The projection as it may be stored: every value the run computed passed through ``redactor``.

    A task's response is the human's answer, kept as given: the reconciler re-signals it from the row.
    A wait's correlation key is left too: routing matches events on it.
    """
    value = redactor.value
    steps = [s.model_copy(update={"error": value(s.error), "iteration": value(s.iteration)}) for s in projection.steps]
    waits = [
        w.model_copy(
            update={
                "payload": value(w.payload),
                "filters": value(w.filters),
                "non_match": None
                if w.non_match is None
                else w.non_match.model_copy(update={"reason": value(w.non_match.reason)}),
            }
        )
        for w in projection.waits
    ]
    tasks = [
        t.model_copy(
            update={
                "title": value(t.title),
                "description": value(t.description),
                "context_data": value(t.context_data),
                "form_schema": redactor.mask(t.form_schema),
            }
        )
        for t in projection.tasks
    ]
    run = projection.run
    if run is not None:
        run = run.model_copy(update={"vars": value(run.vars), "output": value(run.output), "error": value(run.error)})
    return projection.model_copy(update={"steps": steps, "waits": waits, "tasks": tasks, "run": run})


async def apply(conn: asyncpg.Connection, projection: Projection, *, redactor: Redactor) -> None:
    """Write the projection, redacted by the run's ``redactor``, atomically.

    Steps and the run row go in one statement; waits and tasks (only around waits) add statements in a
    transaction.
    """
    await note_execution(conn, projection)
    projection = redacted(projection, redactor)
    tenant, run_id = projection.tenant, projection.run_id
    if not (projection.waits or projection.tasks):
        await _steps_and_run(conn, projection)
        return
    if waits_in_one_statement(projection):
        await _waits_steps_and_run(conn, projection)
        return
    # Inside a caller's transaction this is a savepoint; otherwise it is the transaction.
    async with conn.transaction():
        if projection.waits:
            await conn.executemany(UPSERT_WAIT, [_wait_args(tenant, run_id, w) for w in projection.waits])
        if projection.tasks:
            await conn.executemany(UPSERT_TASK, [_task_args(tenant, run_id, t) for t in projection.tasks])
        await _steps_and_run(conn, projection)


async def note_execution(conn: asyncpg.Connection, projection: Projection) -> None:
    """Record the Temporal run id the projection carries (an execution's first projection when it skipped
    ``load_run``); nothing otherwise. Idempotent, so a retried or fallen-back write may repeat it."""
    note = projection.execution
    if note is not None:
        await conn.execute(NOTE_EXECUTION, projection.tenant, projection.run_id, note.temporal_run_id)


def in_one_statement(projection: Projection) -> bool:
    """Whether :func:`apply_and_claim` / :func:`apply_and_record` can write this projection: not with waits or
    tasks, which take statements of their own."""
    return not (projection.waits or projection.tasks)


def _ledger_args(
    *, idempotency_key: str, seq: int, step_path: str, action: str, action_version: int, input_json: Any
) -> tuple[Any, ...]:
    return (idempotency_key, seq, step_path, action, action_version, input_json)


async def apply_and_claim(
    conn: asyncpg.Connection,
    projection: Projection,
    *,
    idempotency_key: str,
    seq: int,
    step_path: str,
    action: str,
    action_version: int,
    input_json: Any,
    redactor: Redactor,
    keyring: Keyring,
) -> Begun:
    """Write the projection and claim the action's ledger key in one statement (see ``invocations.begin``).

    Only for a projection :func:`in_one_statement` accepts.
    """
    await note_execution(conn, projection)
    projection = redacted(projection, redactor)
    row = await conn.fetchrow(
        APPLY_AND_CLAIM,
        *_projection_args(projection),
        *_ledger_args(
            idempotency_key=idempotency_key,
            seq=seq,
            step_path=step_path,
            action=action,
            action_version=action_version,
            input_json=redactor.value(input_json),
        ),
    )
    return await begun_from(conn, row, tenant=projection.tenant, idempotency_key=idempotency_key, keyring=keyring)


async def apply_and_record(
    conn: asyncpg.Connection,
    projection: Projection | None,
    *,
    tenant: str,
    run_id: str,
    idempotency_key: str,
    seq: int,
    step_path: str,
    action: str,
    action_version: int,
    input_json: Any,
    output: Any,
    error: dict[str, Any] | None,
    redactor: Redactor,
    keyring: Keyring,
) -> Begun:
    """Write the projection (if any) and a finished attempt of a pure action in one statement.

    The answer is the attempt's ledger row (``invocation_id`` set), or, when the key had already succeeded,
    that first output (``stored_output``), which the caller hands on instead of its own: a redelivered
    attempt must not change what the run computes. ``projection`` only one :func:`in_one_statement` accepts,
    or None when it was written already.
    """
    status, shown, shown_error, sealed = result_args(output=output, error=error, redactor=redactor, keyring=keyring)
    ledger = _ledger_args(
        idempotency_key=idempotency_key,
        seq=seq,
        step_path=step_path,
        action=action,
        action_version=action_version,
        input_json=redactor.value(input_json),
    )
    if projection is None:
        args: tuple[Any, ...] = (tenant, run_id, *_steps_columns([]), *_run_args(None), False)
    else:
        await note_execution(conn, projection)
        args = _projection_args(redacted(projection, redactor))
    row = await conn.fetchrow(APPLY_AND_RECORD, *args, *ledger, status, shown, shown_error, sealed)
    return await begun_from(conn, row, tenant=tenant, idempotency_key=idempotency_key, keyring=keyring)


def _projection_args(projection: Projection) -> tuple[Any, ...]:
    """$1..$21 of ``UPSERT_STEPS_AND_PATCH_RUN`` for an already redacted projection."""
    return (
        projection.tenant,
        projection.run_id,
        *_steps_columns(projection.steps),
        *_run_args(projection.run),
        projection.run is not None,
    )


async def fail_run(
    conn: asyncpg.Connection | asyncpg.Pool,
    *,
    tenant: str,
    run_id: str,
    error: dict[str, Any],
    completed_at: datetime,
    redactor: Redactor,
    temporal_run_id: str | None = None,
) -> None:
    """End the run FAILED with ``error`` (redacted, written as ASCII JSON) and cancel its open waits and tasks.

    A run that already ended keeps its ending; the waits and tasks of an ended run are already closed.
    ``temporal_run_id``: the executing Temporal run, when no projection recorded it yet.
    """
    error_json = json.dumps(redactor.value(error), ensure_ascii=True)
    if temporal_run_id is not None:
        await conn.execute(NOTE_EXECUTION, tenant, run_id, temporal_run_id)
    await conn.execute(FAIL_RUN, tenant, run_id, error_json, completed_at)


async def _steps_and_run(conn: asyncpg.Connection, projection: Projection) -> None:
    if not projection.steps and projection.run is None:
        return
    await conn.execute(UPSERT_STEPS_AND_PATCH_RUN, *_projection_args(projection))


def waits_in_one_statement(projection: Projection) -> bool:
    """Whether :func:`_waits_steps_and_run` can write this projection: waits (each seq once) and no tasks."""
    seqs = [w.seq for w in projection.waits]
    return bool(seqs) and not projection.tasks and len(set(seqs)) == len(seqs)


def _json_text(value: Any) -> str | None:
    """A jsonb value as the connection's codec would send it (``json.dumps``); None stays SQL NULL."""
    return None if value is None else json.dumps(value)


def _waits_columns(waits: list[WaitRecord]) -> tuple[list[Any], ...]:
    """The wait records as one array per column, for the ``unnest`` of ``UPSERT_WAITS_STEPS_AND_PATCH_RUN``."""
    columns: tuple[list[Any], ...] = tuple([] for _ in range(12))
    for w in waits:
        row = (
            w.seq,
            w.step_path,
            w.wait_type,
            w.event_name,
            w.correlation_key,
            _json_text(w.filters),
            w.timeout_at,
            w.status,
            _json_text(w.payload),
            w.resolved_at,
            w.matched_event_id,
            None if w.non_match is None else json.dumps(w.non_match.model_dump(mode="json")),
        )
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    return columns


async def _waits_steps_and_run(conn: asyncpg.Connection, projection: Projection) -> None:
    """Write an already redacted projection with waits (see :func:`waits_in_one_statement`) in one statement."""
    await conn.execute(
        UPSERT_WAITS_STEPS_AND_PATCH_RUN, *_projection_args(projection), *_waits_columns(projection.waits)
    )
