"""Operator controls on one run: ``replay`` and ``export``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from runstudio.commands.runs import RUN_ID_HELP, with_services
from runstudio.errors import UsageProblem
from runstudio.lazy import lazy_attribute
from runstudio.options import JsonFlag, read_object_option
from runstudio.output import echo, print_json, print_table

if TYPE_CHECKING:
    from engine.services.audit import Actor
    from engine.services.context import ServiceContext
else:
    Actor = lazy_attribute("engine.services.audit", "Actor")  # read when a command runs, not when it is listed


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
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Start nothing: list each action call of the original run as reused (the ledger answers), "
            "runs again or unknown (its key is known only at run time), and count the side effects that "
            "will run again: calls of actions not declared side-effect free that run again or are unknown. "
            "A table, or with --json {run_id, edited, side_effects, reused, runs_again, unknown, calls}.",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Start a new run of the same definition version from this run's input; prints {"run_id": …, "replay_of": …}.

    Starting a replay always prints JSON; --dry-run previews it instead (a table, or JSON with --json).
    """
    from engine.services.replay import replay_run
    from engine.services.runs import resolve_run_id

    edited = read_object_option(payload, "--payload") if payload is not None else None

    if dry_run:
        _print_preview(ctx, run_id, edited, as_json=as_json)
        return

    async def work(services: ServiceContext) -> tuple[str, str]:
        original = await resolve_run_id(services, run_id)
        return await replay_run(services, original, payload=edited, actor=Actor.current()), original

    new_run_id, original = with_services(ctx, work)
    print_json({"run_id": new_run_id, "replay_of": original})


def _print_preview(ctx: typer.Context, run_id: str, edited: dict[str, Any] | None, *, as_json: bool) -> None:
    """Compute and print the replay preview; reads only (no run, no audit row, no Temporal call)."""
    from engine.services.replay_preview import ReplayPreview, preview_replay, side_effects_sentence
    from engine.services.runs import resolve_run_id

    async def work(services: ServiceContext) -> ReplayPreview:
        return await preview_replay(services, await resolve_run_id(services, run_id), payload=edited)

    preview = with_services(ctx, work)
    if as_json:
        print_json(preview.model_dump(mode="json"))
        return
    which = "the edited payload" if preview.edited else "the original input"
    echo(f"replay of run {preview.run_id} ({preview.workflow_id} v{preview.workflow_version}) with {which}:")
    if not preview.calls:
        echo("the original run made no action calls; a replay repeats none")
    else:
        print_table(
            ["STEP", "ACTION", "PURE", "OUTCOME", "WHY"],
            [
                [
                    c.step_path + (f" #{c.iteration}" if c.iteration else ""),
                    f"{c.action} v{c.version}",
                    "yes" if c.pure else "no",
                    c.outcome,
                    c.reason,
                ]
                for c in preview.calls
            ],
        )
    echo(
        f"{side_effects_sentence(preview.side_effects)} "
        f"({preview.reused} reused, {preview.runs_again} run again, {preview.unknown} unknown); nothing was started"
    )


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
