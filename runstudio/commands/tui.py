"""``runstudio tui``: the full-screen studio on the configured services (Textual is imported only when it runs)."""

import typer

from engine.config import load_settings
from engine.services.context import open_services
from runstudio.context import options, run_async
from runstudio.errors import UsageProblem


def register(app: typer.Typer) -> None:
    """Add ``tui`` to the root app."""
    app.command("tui")(tui_command)


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
        # The app runs in the loop that owns the pool, so its workers can use it.
        async with open_services(load_settings(), tenant=tenant) as services:
            await RunStudioApp(services, read_only=read_only).run_async()

    run_async(go())
