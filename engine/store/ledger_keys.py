"""Read-only look-ups of idempotency keys in the invocation ledger (for the replay preview)."""

from collections.abc import Sequence

from engine.store.db import Conn

KEY_STATUSES = """
SELECT idempotency_key, status FROM workflow_action_invocations
 WHERE tenant = $1 AND idempotency_key = ANY($2::text[])
"""
"""The ledger status (``STARTED``/``SUCCEEDED``/``FAILED``) of each key that has a row, within one tenant."""


async def key_statuses(conn: Conn, *, tenant: str, keys: Sequence[str]) -> dict[str, str]:
    """Map each of ``keys`` that the tenant's ledger holds to its status; absent keys are left out."""
    if not keys:
        return {}
    rows = await conn.fetch(KEY_STATUSES, tenant, list(dict.fromkeys(keys)))
    return {row["idempotency_key"]: row["status"] for row in rows}
