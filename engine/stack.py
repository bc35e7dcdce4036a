"""Resolves where Postgres and Temporal are: the configured services, or the embedded stack."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import ConfigurationError, PostgresUnavailable, TemporalUnavailable

if TYPE_CHECKING:
    from engine.config import Settings


@dataclass(frozen=True)
class TemporalAuth:
    """How to authenticate to a production Temporal: mTLS files and/or a Temporal Cloud API key."""

    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_ca: Path | None = None
    api_key: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Endpoints:
    """Concrete addresses of the services a command talks to."""

    database_url: str
    temporal_address: str
    temporal_namespace: str
    temporal_auth: TemporalAuth | None = None
    temporal_ui_url: str | None = None
    """Temporal's Web UI (no trailing slash), or ``None`` when none is known."""


async def resolve_endpoints(settings: Settings, *, need_temporal: bool = True) -> Endpoints:
    """Return the configured endpoints, starting embedded services for whatever is not configured."""
    start_postgres = settings.database_url is None
    start_temporal = need_temporal and settings.temporal_address is None
    database_url = settings.database_url or ""
    temporal_address = settings.temporal_address or ""
    temporal_ui_url = settings.temporal_ui_url if settings.temporal_address is not None else None
    if start_postgres or start_temporal:
        from engine import devstack  # process management loads only when something embedded must start

        try:
            embedded = await asyncio.to_thread(
                devstack.start, settings.home, postgres=start_postgres, temporal=start_temporal
            )
        except ConfigurationError as exc:
            outage = embedded_start_failed(exc, settings.home, postgres=start_postgres, temporal=start_temporal)
            if outage is None:
                raise
            raise outage from exc
        database_url = database_url or embedded.database_url
        temporal_address = temporal_address or embedded.temporal_address
        temporal_ui_url = temporal_ui_url or embedded.temporal_ui_url or None
    return Endpoints(
        database_url=database_url,
        temporal_address=temporal_address,
        temporal_namespace=settings.temporal_namespace,
        temporal_auth=auth_from_settings(settings),
        temporal_ui_url=temporal_ui_url.rstrip("/") if temporal_ui_url else None,
    )


_NOT_AN_OUTAGE = ("not installed", "was not found", "RUNSTUDIO_HOME", "Another process")
"""Start failures that are set-up problems with their own fix; they are reported as they are."""


def embedded_start_failed(
    exc: ConfigurationError, home: Path, *, postgres: bool, temporal: bool
) -> PostgresUnavailable | TemporalUnavailable | None:
    """The one-line error for an embedded service that would not start (its log tail stays in the log file);
    ``None`` for a set-up problem (a missing binary, an unusable home), whose own message says the fix.

    devstack reports which service failed only in its message, so the component is read from there when
    both were being started.
    """
    text = str(exc)
    if any(marker in text for marker in _NOT_AN_OUTAGE):
        return None
    home = home.expanduser().resolve()
    if temporal and (not postgres or "Temporal" in text.split("\n", 1)[0]):
        return TemporalUnavailable(
            f"the embedded dev server of {home}", f"it did not start (see {home / 'logs' / 'temporal.log'})"
        )
    pgdata = home / "postgres"
    return PostgresUnavailable(f"{pgdata} (socket)", f"the embedded server did not start (see {pgdata / 'log'})")


def auth_from_settings(settings: Settings) -> TemporalAuth | None:
    """The Temporal credentials configured in the environment, or None for a plain connection."""
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    if settings.temporal_tls_cert is None and settings.temporal_tls_ca is None and api_key is None:
        return None
    return TemporalAuth(
        tls_cert=settings.temporal_tls_cert,
        tls_key=settings.temporal_tls_key,
        tls_ca=settings.temporal_tls_ca,
        api_key=api_key,
    )
