"""The action invocation ledger: one row per (tenant, idempotency key).

A key that already succeeded hands back its stored output, so the action does not run again.

Input, output and error are stored redacted by the run's redactor. An output that redaction changed is
also kept sealed (``output_sealed``): handing a redelivered attempt the placeholder instead of what the
action returned would change what the run computes.
"""

from dataclasses import dataclass
from typing import Any

import asyncpg

from engine.keyring import Keyring, is_sealed
from engine.redaction import Redactor

_CLAIM = """
INSERT INTO workflow_action_invocations (tenant, idempotency_key, run_id, seq, step_path, action, action_version,
                                         attempt, status, input_json)
VALUES ({values}, 1, 'STARTED', {input_json})
ON CONFLICT (tenant, idempotency_key) DO UPDATE
   SET attempt = workflow_action_invocations.attempt + 1, status = 'STARTED', input_json = EXCLUDED.input_json,
       error_json = NULL, updated_at = now()
 WHERE workflow_action_invocations.status <> 'SUCCEEDED'
RETURNING id, attempt
"""
"""Claim a key (STARTED), or count one more attempt of a key that has not succeeded; one text, two numberings."""

BEGIN = _CLAIM.format(values="$1, $2, $3, $4, $5, $6, $7", input_json="$8")

# BEGIN as the last part of projections.APPLY_AND_CLAIM: the projection's statement takes $1..$21 ($1 the
# tenant, $2 the run id), the claim $22..$27. One statement, so one round trip for the projection and the claim.
CLAIM_AFTER_PROJECTION = _CLAIM.format(values="$1, $22, $2, $23, $24, $25, $26", input_json="$27")

# A pure action's attempt recorded once it ran, with its result: no STARTED claim comes first, because running
# it again has no effect outside the run. A key that already succeeded keeps its first output (no row returned:
# the caller reads that output back and hands it on, as BEGIN's caller does). $1 tenant, $2 run id, like
# CLAIM_AFTER_PROJECTION, so it can end projections.APPLY_AND_RECORD too.
RECORD_AFTER = """
INSERT INTO workflow_action_invocations (tenant, idempotency_key, run_id, seq, step_path, action, action_version,
                                         attempt, status, input_json, output_json, error_json, output_sealed,
                                         completed_at)
VALUES ($1, $22, $2, $23, $24, $25, $26, 1, $28, $27, $29, $30, $31, now())
ON CONFLICT (tenant, idempotency_key) DO UPDATE
   SET attempt = workflow_action_invocations.attempt + 1, status = EXCLUDED.status,
       input_json = EXCLUDED.input_json, output_json = EXCLUDED.output_json, error_json = EXCLUDED.error_json,
       output_sealed = EXCLUDED.output_sealed, updated_at = now(), completed_at = now()
 WHERE workflow_action_invocations.status <> 'SUCCEEDED'
RETURNING id, attempt
"""

STORED_OUTPUT = """
SELECT id, output_json, output_sealed FROM workflow_action_invocations
 WHERE tenant = $1 AND idempotency_key = $2 AND status = 'SUCCEEDED'
"""

FINISH = """
UPDATE workflow_action_invocations
   SET status = $3, output_json = $4, error_json = $5, output_sealed = $6, updated_at = now(), completed_at = now()
 WHERE tenant = $1 AND id = $2
"""


@dataclass(frozen=True)
class Begun:
    """The ledger's answer: run the action (``invocation_id`` set), or reuse ``stored_output``."""

    invocation_id: int | None
    attempt: int
    stored_output: Any = None


async def begin(
    conn: asyncpg.Connection,
    *,
    tenant: str,
    idempotency_key: str,
    run_id: str,
    seq: int,
    step_path: str,
    action: str,
    action_version: int,
    input_json: Any,
    redactor: Redactor,
    keyring: Keyring,
) -> Begun:
    """Claim the key for an attempt (its input stored redacted), unless it already succeeded.

    A succeeded key hands back the output exactly as the action returned it (opened from its sealed copy
    when redaction had changed it).
    """
    row = await conn.fetchrow(
        BEGIN, tenant, idempotency_key, run_id, seq, step_path, action, action_version, redactor.value(input_json)
    )
    return await begun_from(conn, row, tenant=tenant, idempotency_key=idempotency_key, keyring=keyring)


async def begun_from(
    conn: asyncpg.Connection, row: asyncpg.Record | None, *, tenant: str, idempotency_key: str, keyring: Keyring
) -> Begun:
    """The ledger's answer from the row a claim returned (``BEGIN``, ``CLAIM_AFTER_PROJECTION``, ``RECORD_AFTER``).

    No row means the key had already succeeded: its stored output is read back.
    """
    if row is not None:
        return Begun(invocation_id=row["id"], attempt=row["attempt"])
    done = await conn.fetchrow(STORED_OUTPUT, tenant, idempotency_key)
    if done is None:
        raise RuntimeError(f"invocation {idempotency_key!r} is neither claimable nor succeeded")
    sealed = done["output_sealed"]
    output = keyring.open_json(sealed) if is_sealed(sealed) else done["output_json"]
    return Begun(invocation_id=None, attempt=0, stored_output=output)


async def finish(
    conn: asyncpg.Connection | asyncpg.Pool,
    *,
    tenant: str,
    invocation_id: int,
    redactor: Redactor,
    keyring: Keyring,
    output: Any = None,
    error: dict[str, Any] | None = None,
) -> None:
    """Record the attempt's result, redacted (the output also sealed when redaction changed it)."""
    status, shown, shown_error, sealed = result_args(output=output, error=error, redactor=redactor, keyring=keyring)
    await conn.execute(FINISH, tenant, invocation_id, status, shown, shown_error, sealed)


def result_args(
    *, output: Any, error: dict[str, Any] | None, redactor: Redactor, keyring: Keyring
) -> tuple[str, Any, Any, Any]:
    """Status, shown output, shown error and sealed output of a finished attempt, as ``FINISH`` and ``RECORD_AFTER``
    store them: redacted, the output also sealed when redaction changed it."""
    status = "FAILED" if error is not None else "SUCCEEDED"
    shown = redactor.value(output)
    sealed = keyring.seal_json(output) if shown != output else None
    return status, shown, redactor.value(error), sealed
