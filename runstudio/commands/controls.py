"""Operator controls on one run: ``replay`` and ``export``."""

from pathlib import Path
from typing import Annotated, Any

import typer

from engine.services.audit import Actor
from engine.services.context import ServiceContext
from runstudio.commands.runs import with_services
from runstudio.output import echo, print_json, read_payload_option


def register(app: typer.Typer) -> None:
    """Add ``replay`` and ``export`` to the root app."""
    app.command("replay")(replay_command)
    app.command("export")(export_command)


def replay_command(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run to replay.")],
    payload: Annotated[
        str | None,
        typer.Option(
            "--payload",
            help="Edited input as JSON or @FILE. Omit it to reuse the original (unredacted) input. "
            "Placeholders left at redacted places are restored from the original.",
        ),
    ] = None,
) -> None:
    """Start a new run of the same definition version from this run's input; prints {"run_id": …}."""
    from engine.services.replay import replay_run

    edited = read_payload_option(payload) if payload is not None else None

    async def work(services: ServiceContext) -> Any:
        return await replay_run(services, run_id, payload=edited, actor=Actor.current())

    print_json({"run_id": with_services(ctx, work), "replay_of": run_id})


def export_command(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run to export.")],
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Where to write the JSON document (default: run-<id>-<time>.json here)."),
    ] = None,
) -> None:
    """Write one redacted JSON document with the run, its definition, steps, waits, invocations, events, audit."""
    from engine.services.export import export_run

    async def work(services: ServiceContext) -> Any:
        return await export_run(services, run_id, actor=Actor.current(), path=output)

    target = with_services(ctx, work)
    echo(f"exported run {run_id} to {target}")
