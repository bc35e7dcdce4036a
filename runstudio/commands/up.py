"""``runstudio up``: the whole stack for a developer in one command; quitting stops what it started."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import typer

from runstudio.context import options, run_async
from runstudio.lazy import lazy_module, load_settings
from runstudio.output import print_json

if TYPE_CHECKING:
    from engine import devstack
    from engine.config import Settings
    from engine.stack import Endpoints
else:
    devstack = lazy_module("engine.devstack")  # process tools and the SDK load only when a command runs


def register(app: typer.Typer) -> None:
    """Add ``up`` to the root app."""
    app.command("up")(up_command)


def up_command(
    ctx: typer.Context,
    headless: bool = typer.Option(
        False, "--headless", help="Do not open the studio: print what runs and wait for Ctrl-C (for scripts)."
    ),
    as_json: bool = typer.Option(
        False,
        "--json",
        help="Headless, and describe the stack as one JSON document "
        '({"database_url", "temporal_address", "temporal_namespace", "temporal_ui_url", "migrations_applied", '
        '"demo_run_ids"}).',
    ),
) -> None:
    """Start Postgres + Temporal (embedded unless configured), migrate, run a worker, load demo data, open the studio.

    Quitting the studio (q) stops what this command started; services that were already running stay up.
    """
    tenant = options(ctx).tenant
    import logging  # here, like asyncio below: building the CLI (``--help`` too) needs neither

    headless = headless or as_json  # a studio has no JSON form; the JSON describes the headless stack
    settings = load_settings()
    # Warnings only, and to a file once the studio owns the terminal.
    log_file = settings.home / "logs" / "up.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        filename=None if headless else str(log_file),
    )
    before = devstack.status(settings.home) if settings.uses_embedded_stack else None
    try:
        run_async(_up(settings, tenant, headless=headless, as_json=as_json))
    finally:
        if before is not None:
            _stop_what_we_started(settings, before)


async def _up(settings: Settings, tenant: str, *, headless: bool, as_json: bool = False) -> None:
    import asyncio
    import signal

    from engine.services.context import open_services
    from engine.services.demo import is_empty, load_demo
    from engine.store import migrations
    from engine.store.db import connect
    from worker.main import run_worker

    typer.echo("Starting services…", err=True)
    async with open_services(settings, tenant=tenant) as services:
        conn = await connect(services.endpoints.database_url)
        try:
            applied = await migrations.migrate(conn)
        finally:
            await conn.close()
        stop = asyncio.Event()
        worker = asyncio.create_task(run_worker(settings, stop=stop))
        demo_runs: list[str] = []
        if await is_empty(services):
            demo_runs = await load_demo(services)
        if not headless:
            from studio_tui.app import RunStudioApp

            await RunStudioApp(services).run_async()
            stop.set()
            await worker
            typer.echo("Stopping…", err=True)
            return
        if as_json:
            print_json(
                {
                    "database_url": services.endpoints.database_url,
                    "temporal_address": services.endpoints.temporal_address,
                    "temporal_namespace": settings.temporal_namespace,
                    "temporal_ui_url": services.endpoints.temporal_ui_url,
                    "migrations_applied": [m.label for m in applied],
                    "demo_run_ids": demo_runs,
                }
            )
        else:
            _describe(settings, services.endpoints, len(applied), demo_runs)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        waiter = asyncio.create_task(stop.wait())
        await asyncio.wait({worker, waiter}, return_when=asyncio.FIRST_COMPLETED)
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
        waiter.cancel()
        typer.echo("Stopping…", err=True)


def _describe(settings: Settings, endpoints: Endpoints, applied: int, demo_runs: list[str]) -> None:
    typer.echo("Run Studio is up.")
    typer.echo(f"  Postgres     {endpoints.database_url}")
    typer.echo(f"  Temporal     {endpoints.temporal_address} (namespace {settings.temporal_namespace})")
    if endpoints.temporal_ui_url:
        typer.echo(f"  Temporal UI  {endpoints.temporal_ui_url}")
    typer.echo("  Worker       polling task queue workflow-runtime-v2")
    typer.echo(f"  Migrations   {applied} applied now" if applied else "  Migrations   current")
    if demo_runs:
        typer.echo(f"  Demo data    example definitions published, {len(demo_runs)} runs started")
    typer.echo("Try `runstudio runs` or `runstudio doctor` in another shell. Press Ctrl-C to stop.")


def _stop_what_we_started(settings: Settings, before: devstack.StackStatus) -> None:
    """Stop the embedded services that were not already running when ``up`` began."""
    started_postgres = settings.database_url is None and not before.postgres.running
    started_temporal = settings.temporal_address is None and not before.temporal.running
    if started_postgres and started_temporal:
        for line in devstack.stop(settings.home):
            typer.echo(line, err=True)
    elif started_postgres or started_temporal:
        typer.echo(
            "Leaving the embedded services running (one was already running before `up`); "
            "`runstudio services stop` stops them.",
            err=True,
        )
