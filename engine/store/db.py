"""asyncpg connections with JSON codecs, so jsonb columns read and write plain Python values."""

import json
from typing import TypeAlias

import asyncpg

Conn: TypeAlias = asyncpg.Connection | asyncpg.Pool
"""Anything queries can run on: a connection (possibly in a transaction) or the pool."""


async def _init_connection(conn: asyncpg.Connection) -> None:
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(type_name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(database_url: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """Open a connection pool whose connections encode/decode json and jsonb as Python values."""
    pool: asyncpg.Pool = await asyncpg.create_pool(
        database_url, min_size=min_size, max_size=max_size, init=_init_connection
    )
    return pool


async def connect(database_url: str) -> asyncpg.Connection:
    """Open one connection with the same codecs as the pool (for migrations and one-off scripts)."""
    conn: asyncpg.Connection = await asyncpg.connect(database_url)
    await _init_connection(conn)
    return conn
