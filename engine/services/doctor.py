"""``runstudio doctor``: is every part of the stack there and healthy? One result per check."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import asyncpg
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey

from engine.default_keyring import settings_keyring
from engine.errors import ServiceUnavailableError
from engine.services.runs import STUCK_AFTER
from engine.stack import Endpoints
from engine.store import migrations, runs
from engine.store.db import connect
from engine.temporal import TASK_QUEUE
from engine.temporal import client as temporal_client
from engine.temporal.visibility import SEARCH_ATTRIBUTES, create_commands

T = TypeVar("T")


@dataclass(frozen=True)
class Check:
    """The outcome of one check: ``fix`` says what to do when it failed."""

    name: str
    ok: bool
    detail: str
    fix: str = ""

    def as_json(self) -> dict[str, str | bool | None]:
        """``{"name", "ok", "detail", "fix"}``; ``fix`` is null for a passing check."""
        return {"name": self.name, "ok": self.ok, "detail": self.detail, "fix": self.fix or None}


def report_json(checks: list[Check]) -> dict[str, object]:
    """``doctor --json``: ``{"ok": every check passed, "checks": [Check.as_json(), …]}`` in check order."""
    return {"ok": all(c.ok for c in checks), "checks": [c.as_json() for c in checks]}


async def run_checks(
    endpoints: Endpoints,
    *,
    tenant: str,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> list[Check]:
    """Check database, migrations, Temporal, its search attributes, pollers and stuck runs, in that order.

    A check whose prerequisite failed is reported as failed with that reason, never silently skipped.
    """
    checks: list[Check] = []
    conn = await _attempt(lambda: connect(endpoints.database_url))
    if isinstance(conn, Exception):
        checks.append(Check("database", False, _reason(conn), "start Postgres or fix RUNSTUDIO_DATABASE_URL"))
        checks.append(Check("migrations", False, "database unreachable", "fix the database check first"))
    else:
        checks.append(Check("database", True, "reachable"))
        checks.append(await _migrations_check(conn))
    temporal_address, temporal_namespace = endpoints.temporal_address, endpoints.temporal_namespace
    client = await _attempt(
        lambda: temporal_client.connect(
            temporal_address, temporal_namespace, keyring=settings_keyring(), auth=endpoints.temporal_auth
        )
    )
    if isinstance(client, Exception):
        checks.append(Check("temporal", False, _reason(client), "start Temporal or fix TEMPORAL_ADDRESS"))
        checks.append(Check("search attributes", False, "Temporal unreachable", "fix the temporal check first"))
        checks.append(Check("workers", False, "Temporal unreachable", "fix the temporal check first"))
    else:
        checks.append(Check("temporal", True, f"{temporal_address} namespace {temporal_namespace}"))
        checks.append(await _search_attributes_check(client, temporal_namespace))
        checks.append(await _pollers_check(client))
    if isinstance(conn, Exception):
        checks.append(Check("stuck runs", False, "database unreachable", "fix the database check first"))
    else:
        try:
            checks.append(await _stuck_check(conn, tenant, now()))
        finally:
            await conn.close()
    return checks


def _reason(exc: Exception) -> str:
    # doctor is the fix the outage message points to, so it shows the message without that hint.
    if isinstance(exc, ServiceUnavailableError):
        return exc.summary
    return f"{type(exc).__name__}: {exc}"


async def _attempt(make: Callable[[], Awaitable[T]]) -> T | Exception:
    try:
        return await make()
    except Exception as exc:
        return exc


async def _migrations_check(conn: asyncpg.Connection) -> Check:
    try:
        todo = await migrations.pending(conn)
    except migrations.MigrationError as exc:
        return Check("migrations", False, str(exc), "see the message above")
    if todo:
        names = ", ".join(m.label for m in todo)
        return Check("migrations", False, f"{len(todo)} pending: {names}", "run `runstudio migrate`")
    return Check("migrations", True, f"current ({len(migrations.discover())} applied)")


async def _search_attributes_check(client: Client, namespace: str) -> Check:
    """Every run search attribute is registered on the namespace with its type (else every start is refused)."""
    try:
        listed = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
    except Exception as exc:
        outage = temporal_client.temporal_unavailable(exc, client.service_client.config.target_host)
        reason = outage.summary if outage is not None else _reason(exc)
        return Check("search attributes", False, f"cannot list them on {namespace}: {reason}", "check Temporal")
    registered = dict(listed.custom_attributes)
    wrong = [
        f"{key.name} (missing)" if key.name not in registered else f"{key.name} (not {_type_name(key)})"
        for key in SEARCH_ATTRIBUTES
        if registered.get(key.name) != key.indexed_value_type.value
    ]
    if wrong:
        return Check(
            "search attributes",
            False,
            f"namespace {namespace} lacks {', '.join(wrong)}: runs cannot start",
            "; ".join(create_commands(namespace)),
        )
    return Check("search attributes", True, f"{len(SEARCH_ATTRIBUTES)} registered on {namespace}")


def _type_name(key: SearchAttributeKey[Any]) -> str:
    return key.indexed_value_type.name.capitalize()


async def _pollers_check(client: Client) -> Check:
    try:
        pollers = await temporal_client.workflow_pollers(client)
    except Exception as exc:
        outage = temporal_client.temporal_unavailable(exc, client.service_client.config.target_host)
        reason = outage.summary if outage is not None else _reason(exc)
        return Check("workers", False, f"cannot describe task queue {TASK_QUEUE}: {reason}", "check Temporal")
    if not pollers:
        return Check(
            "workers",
            False,
            f"no worker polls task queue {TASK_QUEUE}",
            "start one with `runstudio worker`",
        )
    return Check("workers", True, f"{len(pollers)} polling {TASK_QUEUE}")


async def _stuck_check(conn: asyncpg.Connection, tenant: str, now: datetime) -> Check:
    try:
        stuck = await runs.count_stuck(conn, tenant=tenant, started_before=now - STUCK_AFTER)
    except asyncpg.UndefinedTableError:
        return Check("stuck runs", False, "schema missing", "run `runstudio migrate`")
    if stuck:
        return Check(
            "stuck runs",
            False,
            f"{stuck} run(s) RUNNING with no step for over {int(STUCK_AFTER.total_seconds())} s",
            "check that a worker polls the task queue; `runstudio runs --status RUNNING` lists them",
        )
    return Check("stuck runs", True, "none")
