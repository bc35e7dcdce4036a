"""asyncpg connections with JSON codecs, so jsonb columns read and write plain Python values.

Opening a pool or a connection is where an absent Postgres shows first: both raise
``PostgresUnavailable`` (component, address without password, reason) instead of the driver's error.

A pooled connection goes back to the pool without a server round trip: asyncpg's default reset on release
(``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL``) cost every activity and every studio query
one round trip for state nothing here leaves behind. An open transaction is still rolled back on release
(asyncpg does that before any custom reset). Code that does keep session state on a pooled connection (a
session advisory lock, a session ``SET``, ``LISTEN``) calls ``keeps_session_state`` on it first, and that
connection gets the full reset.
"""

import json
from typing import TypeAlias

import asyncpg

from engine.errors import PostgresUnavailable
from engine.store.outage import postgres_address, postgres_outage

Conn: TypeAlias = asyncpg.Connection | asyncpg.Pool
"""Anything queries can run on: a connection (possibly in a transaction) or the pool."""


class PooledConnection(asyncpg.Connection):  # type: ignore[misc]  # asyncpg ships no types
    """A pool's connection, which knows whether it must be reset when it goes back."""

    __slots__ = ("_session_state",)

    def keeps_session_state(self) -> None:
        """Say this connection will hold session state: it gets asyncpg's full reset on release."""
        self._session_state = True


async def _reset_on_release(conn: asyncpg.Connection) -> None:
    if getattr(conn, "_session_state", False):
        assert isinstance(conn, PooledConnection)
        conn._session_state = False
        await conn.execute(conn.get_reset_query())


async def _init_connection(conn: asyncpg.Connection) -> None:
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(type_name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(database_url: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """Open a connection pool whose connections encode/decode json and jsonb as Python values.

    Raises ``PostgresUnavailable`` when Postgres cannot be reached.
    """
    try:
        pool: asyncpg.Pool = await asyncpg.create_pool(
            database_url,
            min_size=min_size,
            max_size=max_size,
            init=_init_connection,
            reset=_reset_on_release,
            connection_class=PooledConnection,
        )
    except Exception as exc:
        mapped = postgres_unavailable(exc, database_url)
        if mapped is None:
            raise
        raise mapped from exc
    return pool


async def connect(database_url: str) -> asyncpg.Connection:
    """Open one connection with the same codecs as the pool (for migrations and one-off scripts).

    Raises ``PostgresUnavailable`` when Postgres cannot be reached.
    """
    try:
        conn: asyncpg.Connection = await asyncpg.connect(database_url)
        await _init_connection(conn)
    except Exception as exc:
        mapped = postgres_unavailable(exc, database_url)
        if mapped is None:
            raise
        raise mapped from exc
    return conn


def postgres_unavailable(
    exc: BaseException, database_url: str, *, from_driver_only: bool = False
) -> PostgresUnavailable | None:
    """``PostgresUnavailable`` when ``exc`` is a connection failure (see ``postgres_outage``), else ``None``."""
    if isinstance(exc, PostgresUnavailable):
        return exc
    reason = postgres_outage(exc, from_driver_only=from_driver_only)
    return None if reason is None else PostgresUnavailable(postgres_address(database_url), reason)
