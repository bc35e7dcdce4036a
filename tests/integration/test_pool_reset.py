"""Pooled connections go back without a reset round trip, except the ones that said they keep session state:
those are fully reset, so a launch lock can never outlive its block on a connection the pool hands out again."""

from collections.abc import AsyncIterator

import asyncpg
import pytest

from engine.store import launch_lock
from engine.store.db import create_pool

ADVISORY_LOCKS = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = $1"


@pytest.fixture
async def one_connection_pool(migrated_database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """One connection, so every acquire gets the same session back."""
    pool = await create_pool(migrated_database_url, min_size=1, max_size=1)
    try:
        yield pool
    finally:
        await pool.close()


async def test_a_plain_release_sends_nothing_to_the_server(one_connection_pool: asyncpg.Pool) -> None:
    sent: list[str] = []

    def logged(record: asyncpg.connection.LoggedQuery) -> None:
        sent.append(record.query)

    async with one_connection_pool.acquire() as conn:
        await conn.fetchval("SELECT 1")
        raw = conn._con  # the connection behind the pool's proxy, which outlives the release
        raw.add_query_logger(logged)
    try:
        assert sent == []
        async with one_connection_pool.acquire() as conn:
            await conn.fetchval("SELECT 2")
        assert sent == ["SELECT 2"]  # the logger does see what the connection sends
    finally:
        raw.remove_query_logger(logged)


async def test_an_open_transaction_is_still_rolled_back_on_release(one_connection_pool: asyncpg.Pool) -> None:
    async with one_connection_pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        await conn.execute("CREATE TEMPORARY TABLE left_open (x int)")
    async with one_connection_pool.acquire() as conn:
        assert not conn.is_in_transaction()
        assert await conn.fetchval("SELECT to_regclass('pg_temp.left_open')") is None


async def test_a_launch_lock_never_outlives_its_block(one_connection_pool: asyncpg.Pool) -> None:
    async with launch_lock.launching(one_connection_pool, "00000000-0000-4000-8000-00000000000a") as conn:
        pid = conn.get_server_pid()
        # What a failed unlock would leave: a second hold on the same lock, which the block's unlock cannot free.
        await conn.execute(launch_lock.LOCK_LAUNCH, launch_lock.LOCK_CLASS, "00000000-0000-4000-8000-00000000000a")
    async with one_connection_pool.acquire() as conn:
        assert conn.get_server_pid() == pid  # the same session, handed out again
        assert await conn.fetchval(ADVISORY_LOCKS, pid) == 0
        # And once reset, it goes back to plain releases.
        assert getattr(conn._con, "_session_state", False) is False
