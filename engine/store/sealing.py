"""The migration step SQL cannot do: seal the plaintext inputs of runs written before 0007, redact the rest.

For each run whose ``input_json`` is still plaintext, in one transaction: the input is sealed with the
keyring, its redacted copy written, and everything the run projected before (run vars/output/error, step
errors, waits, ledger entries, tasks, logs) rewritten through the run's redactor — once the input is
sealed, reads can no longer build that redactor from it. Idempotent: a sealed run is never selected
again, so a second pass (or a concurrent one: rows are claimed ``SKIP LOCKED``) does nothing.

These are the deliberately cross-tenant statements of the store: a migration serves every tenant.
"""

from collections.abc import Callable
from typing import Any, Final

import asyncpg

from engine.keyring import Keyring
from engine.redaction import Redactor

BATCH: Final = 200
"""Runs sealed per transaction."""

_SEALED = "coalesce(input_json -> 'runstudio-sealed' = '1'::jsonb, false)"

CLAIM_PLAINTEXT_RUNS = f"""
SELECT r.tenant, r.run_id, r.input_json, coalesce(v.definition -> 'redact', '[]'::jsonb) AS redact
  FROM workflow_runs r
  LEFT JOIN workflow_definition_versions v
    ON v.tenant = r.tenant AND v.workflow_id = r.workflow_id AND v.version = r.workflow_version
 WHERE NOT {_SEALED.replace("input_json", "r.input_json")}
 ORDER BY r.tenant, r.run_id
 LIMIT $1
   FOR UPDATE OF r SKIP LOCKED
"""

SEAL_RUN = f"""
UPDATE workflow_runs
   SET input_json = $3, input_redacted = $4, vars_json = $5, output_json = $6, error_json = $7
 WHERE tenant = $1 AND run_id = $2 AND NOT {_SEALED}
"""

RUN_VALUES = "SELECT vars_json, output_json, error_json FROM workflow_runs WHERE tenant = $1 AND run_id = $2"

STEP_ERRORS = """
SELECT seq, attempt, error_json FROM workflow_run_steps
 WHERE tenant = $1 AND run_id = $2 AND error_json IS NOT NULL
"""
REDACT_STEP = """
UPDATE workflow_run_steps SET error_json = $5 WHERE tenant = $1 AND run_id = $2 AND seq = $3 AND attempt = $4
"""

WAIT_VALUES = "SELECT seq, payload, filters, non_match FROM workflow_run_waits WHERE tenant = $1 AND run_id = $2"
REDACT_WAIT = """
UPDATE workflow_run_waits SET payload = $4, filters = $5, non_match = $6 WHERE tenant = $1 AND run_id = $2 AND seq = $3
"""

INVOCATION_VALUES = """
SELECT id, input_json, output_json, error_json, output_sealed FROM workflow_action_invocations
 WHERE tenant = $1 AND run_id = $2
"""
REDACT_INVOCATION = """
UPDATE workflow_action_invocations SET input_json = $4, output_json = $5, error_json = $6, output_sealed = $7
 WHERE tenant = $1 AND run_id = $2 AND id = $3
"""

TASK_VALUES = """
SELECT task_id, title, description, context_data, form_schema FROM workflow_tasks WHERE tenant = $1 AND run_id = $2
"""
REDACT_TASK = """
UPDATE workflow_tasks SET title = $4, description = $5, context_data = $6, form_schema = $7
 WHERE tenant = $1 AND run_id = $2 AND task_id = $3
"""

LOG_MESSAGES = "SELECT id, message FROM workflow_run_logs WHERE tenant = $1 AND run_id = $2"
REDACT_LOG = "UPDATE workflow_run_logs SET message = $4 WHERE tenant = $1 AND run_id = $2 AND id = $3"


async def seal_plaintext_inputs(
    conn: asyncpg.Connection,
    keyring: Keyring,
    *,
    batch: int = BATCH,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Seal every plaintext run input and redact what those runs projected; return how many runs it sealed.

    ``progress`` is told the running total after each committed batch (a large upgrade takes a while).
    """
    sealed = 0
    while True:
        async with conn.transaction():
            claimed = await conn.fetch(CLAIM_PLAINTEXT_RUNS, batch)
            for row in claimed:
                await _seal_run(conn, keyring, row)
        sealed += len(claimed)
        if claimed and progress is not None:
            progress(sealed)
        if len(claimed) < batch:
            return sealed


async def _seal_run(conn: asyncpg.Connection, keyring: Keyring, row: asyncpg.Record) -> None:
    tenant, run_id, payload = row["tenant"], row["run_id"], row["input_json"]
    redactor = Redactor.for_input(payload, list(row["redact"]))
    value = redactor.value
    run = await conn.fetchrow(RUN_VALUES, tenant, run_id)
    await conn.execute(
        SEAL_RUN,
        tenant,
        run_id,
        keyring.seal_json(payload),
        redactor.input(payload),
        value(run["vars_json"]),
        value(run["output_json"]),
        value(run["error_json"]),
    )
    rewrites: list[tuple[str, str, Callable[[asyncpg.Record], tuple[Any, ...]]]] = [
        (STEP_ERRORS, REDACT_STEP, lambda r: (r["seq"], r["attempt"], value(r["error_json"]))),
        (
            WAIT_VALUES,
            REDACT_WAIT,
            lambda r: (r["seq"], value(r["payload"]), value(r["filters"]), value(r["non_match"])),
        ),
        (INVOCATION_VALUES, REDACT_INVOCATION, lambda r: _invocation(r, redactor, keyring)),
        (
            TASK_VALUES,
            REDACT_TASK,
            lambda r: (
                r["task_id"],
                value(r["title"]),
                value(r["description"]),
                value(r["context_data"]),
                redactor.mask(r["form_schema"]),
            ),
        ),
        (LOG_MESSAGES, REDACT_LOG, lambda r: (r["id"], value(r["message"]))),
    ]
    for select, update, new_values in rewrites:
        rows = await conn.fetch(select, tenant, run_id)
        if rows:
            await conn.executemany(update, [(tenant, run_id, *new_values(r)) for r in rows])


def _invocation(r: asyncpg.Record, redactor: Redactor, keyring: Keyring) -> tuple[Any, ...]:
    """A ledger row redacted; an output redaction changes is kept sealed (a redelivered attempt reads it)."""
    output = r["output_json"]
    shown = redactor.value(output)
    kept = r["output_sealed"] or (keyring.seal_json(output) if shown != output else None)
    return (r["id"], redactor.value(r["input_json"]), shown, redactor.value(r["error_json"]), kept)
