"""The services facade: a database pool, a lazily connected Temporal client, the tenant and a clock.

The CLI, the worker and the studio all build one of these and pass it to the use-case functions.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from engine.default_keyring import settings_keyring
from engine.errors import ServiceUnavailableError
from engine.keyring import Keyring, load_keyring
from engine.stack import Endpoints, resolve_endpoints

if TYPE_CHECKING:
    # The driver and the SDK are a third of a command's start-up: they load where first used (below).
    import asyncpg
    from temporalio.client import Client

    from engine.config import Settings


def utc_now() -> datetime:
    """The real clock (services take a clock so tests can freeze it)."""
    return datetime.now(UTC)


@dataclass
class ServiceContext:
    """What every service call needs. Temporal is connected on first use, so read-only views work without it."""

    pool: asyncpg.Pool
    endpoints: Endpoints
    tenant: str
    clock: Callable[[], datetime] = utc_now
    _client: Client | None = field(default=None, repr=False)
    keyring: Keyring = field(default_factory=settings_keyring, repr=False)
    """Encrypts Temporal payloads (the client's codec) and the sealed original input in Postgres."""

    async def temporal(self) -> Client:
        """The Temporal client, connecting on first use (``ServiceUnavailableError`` if unreachable)."""
        if self._client is None:
            from engine.temporal import client as temporal_client  # the SDK loads on the first Temporal call

            self._client = await temporal_client.connect(
                self.endpoints.temporal_address,
                self.endpoints.temporal_namespace,
                keyring=self.keyring,
                auth=self.endpoints.temporal_auth,
            )
        return self._client

    def for_tenant(self, tenant: str) -> ServiceContext:
        """The same connections, acting for another tenant."""
        return ServiceContext(self.pool, self.endpoints, tenant, self.clock, self._client, self.keyring)


@asynccontextmanager
async def open_services(settings: Settings, *, tenant: str) -> AsyncIterator[ServiceContext]:
    """Resolve the endpoints (starting embedded services if needed), open the pool, close it after.

    A Postgres or Temporal outage met inside the block (a dropped connection, an RPC the server did not
    answer) leaves it as ``PostgresUnavailable`` / ``TemporalUnavailable`` naming that service.
    """
    from engine.store.db import create_pool

    endpoints = await resolve_endpoints(settings)
    keyring = load_keyring(settings)
    pool = await create_pool(endpoints.database_url)
    try:
        yield ServiceContext(pool=pool, endpoints=endpoints, tenant=tenant, keyring=keyring)
    except Exception as exc:
        mapped = unavailable_error(exc, endpoints)
        if mapped is None:
            raise
        raise mapped from exc
    finally:
        await pool.close()


def unavailable_error(exc: BaseException, endpoints: Endpoints) -> ServiceUnavailableError | None:
    """The "<service> at <address> is unreachable" error ``exc`` stands for, or ``None`` if it is something else.

    The one place that maps driver and SDK failures for callers holding a ``ServiceContext`` (the CLI via
    ``open_services``, the studio for errors its workers catch).
    """
    from engine.store.db import postgres_unavailable

    if isinstance(exc, ServiceUnavailableError):
        return exc
    postgres = postgres_unavailable(exc, endpoints.database_url, from_driver_only=True)
    if postgres is not None or "temporalio" not in sys.modules:
        # Only the SDK raises what reads as a Temporal outage: while it is not loaded, nothing is one.
        return postgres
    from engine.temporal import client as temporal_client

    return temporal_client.temporal_unavailable(exc, endpoints.temporal_address)
