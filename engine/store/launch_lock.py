"""The launch lock: a run row whose start Temporal has not answered yet is not the reconciler's to close.

The launcher writes the run row before it asks Temporal to start the workflow. Between the two, Temporal
has no execution for the run — exactly what the reconciler reads as "nothing will ever run it". A grace
period alone cannot tell a slow start (the SDK retries a start while Temporal is away, for longer than any
grace) from a launcher that died after the insert. So the launcher holds a session advisory lock on the run
from the insert until Temporal has answered, and the reconciler closes a run with no execution only while it
holds that lock itself. A launcher that dies drops its connection, and with it the lock.
"""

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

import asyncpg

LOCK_CLASS: Final = 0x52554E
"""The first key of the two-key advisory locks taken here (the second is the run id's hash)."""

LOCK_LAUNCH = "SELECT pg_advisory_lock($1, hashtext($2))"
UNLOCK_LAUNCH = "SELECT pg_advisory_unlock($1, hashtext($2))"
TRY_LOCK_FOR_TRANSACTION = "SELECT pg_try_advisory_xact_lock($1, hashtext($2))"


@asynccontextmanager
async def launching(pool: asyncpg.Pool, run_id: str) -> AsyncIterator[asyncpg.Connection]:
    """Hold ``run_id``'s launch lock for the block, on the connection it yields (use it for the insert)."""
    async with pool.acquire() as conn:
        conn.keeps_session_state()  # the lock outlives transactions: release must unlock it whatever happens
        await conn.execute(LOCK_LAUNCH, LOCK_CLASS, run_id)
        try:
            yield conn
        finally:
            # A connection lost meanwhile took its lock with it; a live one is also reset on release (marked
            # above: every advisory lock is unlocked then), so a failed unlock must not hide the block's own outcome.
            with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
                await conn.execute(UNLOCK_LAUNCH, LOCK_CLASS, run_id)


@asynccontextmanager
async def unless_launching(pool: asyncpg.Pool, run_id: str) -> AsyncIterator[bool]:
    """``True`` (and the lock held for the block) when no launcher is between ``run_id``'s insert and start."""
    async with pool.acquire() as conn, conn.transaction():
        yield bool(await conn.fetchval(TRY_LOCK_FOR_TRANSACTION, LOCK_CLASS, run_id))
