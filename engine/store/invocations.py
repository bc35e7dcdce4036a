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

BEGIN = """
INSERT INTO workflow_action_invocations (tenant, idempotency_key, run_id, seq, step_path, action, action_version,
                                         attempt, status, input_json)
VALUES ($1, $2, $3, $4, $5, $6, $7, 1, 'STARTED', $8)
ON CONFLICT (tenant, idempotency_key) DO UPDATE
   SET attempt = workflow_action_invocations.attempt + 1, status = 'STARTED', input_json = EXCLUDED.input_json,
       error_json = NULL, updated_at = now()
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
    status = "FAILED" if error is not None else "SUCCEEDED"
    shown = redactor.value(output)
    sealed = keyring.seal_json(output) if shown != output else None
    await conn.execute(FINISH, tenant, invocation_id, status, shown, redactor.value(error), sealed)
