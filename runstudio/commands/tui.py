"""``runstudio tui``: the full-screen studio on the configured services (Textual is imported only when it runs)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from runstudio.context import options, run_async
from runstudio.errors import UsageProblem
from runstudio.lazy import load_settings

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

    from engine.config import Settings
    from engine.services.context import ServiceContext


def register(app: typer.Typer) -> None:
    """Add ``tui`` to the root app."""
    app.command("tui")(tui_command)


def open_services(settings: Settings, *, tenant: str) -> AbstractAsyncContextManager[ServiceContext]:
    """``engine.services.context.open_services``, imported only when the studio starts."""
    from engine.services.context import open_services as open_

    return open_(settings, tenant=tenant)


def tui_command(
    ctx: typer.Context,
    read_only: bool = typer.Option(
        False, "--read-only", help="Hide every control that changes anything (for watching production)."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Refused: the studio is interactive (use `runstudio runs --json`, `show --json`)."
    ),
) -> None:
    """Open the studio: runs, their timelines, and the health of the stack. Press ? inside for the keys."""
    if as_json:
        raise UsageProblem(
            "the studio is interactive and has no JSON form; for JSON use `runstudio runs --json` or "
            "`runstudio show RUN_ID --json`"
        )
    # Imported here so that every other command starts without loading Textual.
    from studio_tui.app import RunStudioApp

    tenant = options(ctx).tenant

    async def go() -> None:
        # The app runs in the loop that owns the pool, so its workers can use it. Opening the services
        # connects to Postgres only: the first page of runs needs nothing else, and Temporal is dialled by
        # the health check once those rows are on screen.
        async with open_services(load_settings(), tenant=tenant) as services:
            await RunStudioApp(services, read_only=read_only).run_async()

    run_async(go())
