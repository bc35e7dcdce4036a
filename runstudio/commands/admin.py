"""Stack administration: ``migrate`` and ``doctor``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from runstudio.context import options, run_async
from runstudio.options import JsonFlag
from runstudio.output import echo, print_json

if TYPE_CHECKING:
    from engine.services import doctor
    from engine.store import migrations


def register(app: typer.Typer) -> None:
    """Add ``migrate`` and ``doctor`` to the root app."""
    app.command("migrate")(migrate_command)
    app.command("doctor")(doctor_command)


def _sealing_progress(sealed: int) -> None:
    # On stderr, so --json output stays one document: sealing the inputs of a large history takes a while.
    typer.echo(f"sealed the plaintext input of {sealed:,} run(s) written before 0007 …", err=True)


def migrate_command(as_json: JsonFlag = False) -> None:
    """Apply pending database migrations in order (safe to run again, and from several processes).

    With --json: {"applied": [label, …]} ([] when the schema was current).
    """
    from engine.config import load_settings
    from engine.stack import resolve_endpoints
    from engine.store import migrations
    from engine.store.db import connect

    async def go() -> list[migrations.Migration]:
        endpoints = await resolve_endpoints(load_settings(), need_temporal=False)
        conn = await connect(endpoints.database_url)
        try:
            return await migrations.migrate(conn, progress=_sealing_progress)
        finally:
            await conn.close()

    applied = run_async(go())
    if as_json:
        print_json({"applied": [m.label for m in applied]})
        return
    if not applied:
        echo("Database schema is current; nothing to apply.")
    for migration in applied:
        echo(f"applied {migration.label}")


def doctor_command(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Check the database, migrations, Temporal, workers on the task queue and stuck runs.

    With --json: {"ok", "checks": [{"name", "ok", "detail", "fix"}, …]}. Exit 1 when any check failed.
    """
    from engine.config import load_settings
    from engine.services import doctor
    from engine.stack import resolve_endpoints

    tenant = options(ctx).tenant

    async def go() -> list[doctor.Check]:
        endpoints = await resolve_endpoints(load_settings())
        return await doctor.run_checks(endpoints, tenant=tenant)

    checks = run_async(go())
    if as_json:
        print_json(doctor.report_json(checks))
    else:
        _print_checks(checks)
    failed = [c for c in checks if not c.ok]
    if failed:
        # One stderr line for scripts: what is down (component and address), else which checks failed.
        down = [c.detail for c in failed if c.name in ("database", "temporal")]
        summary = "; ".join(down) if down else f"{len(failed)} check(s) failed: {', '.join(c.name for c in failed)}"
        echo(f"error: {summary}", err=True)
        raise typer.Exit(1)


def _print_checks(checks: list[doctor.Check]) -> None:
    width = max(len(c.name) for c in checks)
    for check in checks:
        mark = "ok  " if check.ok else "FAIL"
        line = f"{mark} {check.name:<{width}}  {check.detail}"
        if not check.ok and check.fix:
            line += f" — {check.fix}"
        echo(line)
