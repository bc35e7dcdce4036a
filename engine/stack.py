"""Resolves where Postgres and Temporal are: the configured services, or the embedded stack."""

import asyncio
from dataclasses import dataclass

from engine import devstack
from engine.config import Settings


@dataclass(frozen=True)
class Endpoints:
    """Concrete addresses of the services a command talks to."""

    database_url: str
    temporal_address: str
    temporal_namespace: str


async def resolve_endpoints(settings: Settings, *, need_temporal: bool = True) -> Endpoints:
    """Return the configured endpoints, starting embedded services for whatever is not configured."""
    start_postgres = settings.database_url is None
    start_temporal = need_temporal and settings.temporal_address is None
    database_url = settings.database_url or ""
    temporal_address = settings.temporal_address or ""
    if start_postgres or start_temporal:
        embedded = await asyncio.to_thread(
            devstack.start, settings.home, postgres=start_postgres, temporal=start_temporal
        )
        database_url = database_url or embedded.database_url
        temporal_address = temporal_address or embedded.temporal_address
    return Endpoints(
        database_url=database_url,
        temporal_address=temporal_address,
        temporal_namespace=settings.temporal_namespace,
    )
