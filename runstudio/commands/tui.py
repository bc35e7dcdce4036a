"""``runstudio tui``: the full-screen studio on the configured services (Textual is imported only when it runs)."""

from __future__ import annotations

import contextlib
import gc
from typing import TYPE_CHECKING

import typer

from runstudio.context import options, run_async
from runstudio.errors import UsageProblem
from runstudio.lazy import load_settings

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

    import asyncpg

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
    import asyncio
    from importlib import import_module

    # What opening the services imports, imported before the studio's own import starts on a thread (below),
    # so that the two threads never import the same modules at once.
    import engine.services.context
    import engine.store.db  # noqa: F401

    tenant = options(ctx).tenant
    settings = load_settings()

    async def go() -> None:
        # Textual and the studio's screens (imported here so that every other command starts without them)
        # take most of the start-up; they load on a thread while this loop connects to Postgres, instead of
        # before it. The app runs in the loop that owns the pool, so its workers can use it. Opening the
        # services connects to Postgres only: the first page of runs needs nothing else, and Temporal is
        # dialled by the health check once those rows are on screen.
        studio = asyncio.ensure_future(asyncio.to_thread(import_module, "studio_tui.app"))
        try:
            async with open_services(settings, tenant=tenant) as services:
                second = asyncio.ensure_future(open_second_connection(services.pool))
                try:
                    app_class = (await studio).RunStudioApp
                    gc.enable()  # the studio is imported: from here on it allocates garbage (see run_async)
                    await app_class(services, read_only=read_only).run_async()
                finally:
                    second.cancel()
        finally:
            await asyncio.gather(studio, return_exceptions=True)  # a failed open leaves no import running

    run_async(go(), collect_cycles=False)


async def open_second_connection(pool: asyncpg.Pool) -> None:
    """Have the pool hold two connections while the studio starts.

    The runs screen reads its first page and the count side by side, on two connections: opened now, while
    Textual starts, the second one is ready then instead of being dialled (and its codecs set) in between.
    Only a head start: if it fails, the screen's own queries meet (and report) the same problem.
    """
    with contextlib.suppress(Exception):
        async with pool.acquire(), pool.acquire():
            pass
