"""The services facade: a database pool, a lazily connected Temporal client, the tenant and a clock.

The CLI, the worker and the studio all build one of these and pass it to the use-case functions.
"""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
from temporalio.client import Client

from engine.config import Settings
from engine.errors import ServiceUnavailableError
from engine.stack import Endpoints, resolve_endpoints
from engine.store.db import create_pool, postgres_unavailable
from engine.temporal import client as temporal_client


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

    async def temporal(self) -> Client:
        """The Temporal client, connecting on first use (``ServiceUnavailableError`` if unreachable)."""
        if self._client is None:
            self._client = await temporal_client.connect(
                self.endpoints.temporal_address, self.endpoints.temporal_namespace, auth=self.endpoints.temporal_auth
            )
        return self._client

    def for_tenant(self, tenant: str) -> "ServiceContext":
        """The same connections, acting for another tenant."""
        return ServiceContext(self.pool, self.endpoints, tenant, self.clock, self._client)


@asynccontextmanager
async def open_services(settings: Settings, *, tenant: str) -> AsyncIterator[ServiceContext]:
    """Resolve the endpoints (starting embedded services if needed), open the pool, close it after.

    A Postgres or Temporal outage met inside the block (a dropped connection, an RPC the server did not
    answer) leaves it as ``PostgresUnavailable`` / ``TemporalUnavailable`` naming that service.
    """
    endpoints = await resolve_endpoints(settings)
    pool = await create_pool(endpoints.database_url)
    try:
        yield ServiceContext(pool=pool, endpoints=endpoints, tenant=tenant)
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
    if isinstance(exc, ServiceUnavailableError):
        return exc
    postgres = postgres_unavailable(exc, endpoints.database_url, from_driver_only=True)
    return postgres or temporal_client.temporal_unavailable(exc, endpoints.temporal_address)
