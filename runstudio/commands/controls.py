"""Operator controls on one run: ``replay`` and ``export``."""

from pathlib import Path
from typing import Annotated

import typer

from engine.services.audit import Actor
from engine.services.context import ServiceContext
from runstudio.commands.runs import RUN_ID_HELP, with_services
from runstudio.errors import UsageProblem
from runstudio.options import AlwaysJsonFlag, JsonFlag, read_object_option
from runstudio.output import echo, print_json


def register(app: typer.Typer) -> None:
    """Add ``replay`` and ``export`` to the root app."""
    app.command("replay")(replay_command)
    app.command("export")(export_command)


def replay_command(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help=RUN_ID_HELP)],
    payload: Annotated[
        str | None,
        typer.Option(
            "--payload",
            help="Edited input as JSON or @FILE. Omit it to reuse the original (unredacted) input. "
            "Placeholders left at redacted places are restored from the original.",
        ),
    ] = None,
    as_json: AlwaysJsonFlag = False,
) -> None:
    """Start a new run of the same definition version from this run's input; prints {"run_id": …, "replay_of": …}."""
    from engine.services.replay import replay_run
    from engine.services.runs import resolve_run_id

    del as_json  # the output is JSON either way
    edited = read_object_option(payload, "--payload") if payload is not None else None

    async def work(services: ServiceContext) -> tuple[str, str]:
        original = await resolve_run_id(services, run_id)
        return await replay_run(services, original, payload=edited, actor=Actor.current()), original

    new_run_id, original = with_services(ctx, work)
    print_json({"run_id": new_run_id, "replay_of": original})


def export_command(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help=RUN_ID_HELP)],
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="The file to write (default: run-<id>-<time>.json in --output-dir)."),
    ] = None,
    output_dir: Annotated[
        Path | None,
        typer.Option("--output-dir", help="Folder for the default file name (default: $RUNSTUDIO_HOME/exports)."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Write one redacted JSON document with the run, its definition, steps, waits, invocations, events, audit.

    Prints where it went; with --json, {"run_id": …, "path": …} (the absolute path).
    """
    from engine.services.export import export_run
    from engine.services.runs import resolve_run_id

    if output is not None and output_dir is not None:
        raise UsageProblem("give -o FILE or --output-dir DIR, not both")

    async def work(services: ServiceContext) -> tuple[str, Path]:
        full_id = await resolve_run_id(services, run_id)
        target = await export_run(services, full_id, actor=Actor.current(), path=output, output_dir=output_dir)
        return full_id, target

    full_id, target = with_services(ctx, work)
    if as_json:
        print_json({"run_id": full_id, "path": str(target)})
        return
    echo(f"exported run {full_id} to {target}")
