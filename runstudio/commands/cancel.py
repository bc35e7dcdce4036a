"""``runstudio cancel``: cancel runs by id or by filter, Temporal-first, with a per-run summary."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from runstudio.commands.runs import STATUSES
from runstudio.context import options, run_async
from runstudio.lazy import load_settings
from runstudio.options import JsonFlag
from runstudio.output import echo, print_json

if TYPE_CHECKING:
    from engine.services.cancel import CancelOutcome
    from engine.services.context import ServiceContext

PROGRESS_EVERY = 10
"""Batches larger than this report progress on stderr every this many runs."""

_LABELS = {
    "canceled": "canceled",
    "refused": "refused",
    "not_cancelable": "not cancelable",
    "already_requested": "already requested",
}
_SHOWN_WHEN_ZERO = frozenset({"canceled", "refused", "not_cancelable"})
"""The summary always counts these; a repeat of a pending request is counted only when it happened."""


def register(app: typer.Typer) -> None:
    """Add ``cancel`` to the root app."""
    app.command("cancel")(cancel_command)


def _interactive() -> bool:
    """Whether a person can answer a confirmation prompt."""
    return sys.stdin.isatty()


def cancel_command(
    ctx: typer.Context,
    run_ids: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="RUN_ID",
            help="Runs to cancel, each a full id or a unique prefix (6+ hex characters). A single id is canceled "
            "without a prompt; several are counted and confirmed.",
            show_default=False,
        ),
    ] = None,
    status: Annotated[
        str | None,
        typer.Option(
            "--status",
            help=f"Cancel every run in this status ({', '.join(STATUSES)}); runs already over are reported "
            "not cancelable. Not with run ids.",
            show_default=False,
        ),
    ] = None,
    workflow: Annotated[
        str | None, typer.Option("--workflow", help="With --status: only runs of this workflow id.", show_default=False)
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (required when stdin is not a terminal).")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Cancel runs Temporal-first: a run becomes CANCELED only once Temporal has accepted the cancel.

    Give run ids, or --status (and optionally --workflow) for every matching run.

    Several runs are counted and confirmed first; --yes skips the prompt. A single run id is not confirmed.

    Prints one line per run (canceled / already requested: when and by whom / refused: why / not cancelable:
    why, e.g. already TERMINATED in Temporal) and a total. With --json: a list of
    {"run_id", "outcome", "reason", "status_before"}, outcome one of canceled, already_requested, refused,
    not_cancelable ([] when nothing matched).

    Exit code 1 if Temporal refused (or could not be reached) for any run, else 0.
    """
    from engine.services.audit import Actor
    from engine.services.cancel import cancel_runs, select_cancelable
    from engine.services.context import open_services
    from engine.services.runs import resolve_run_id

    ids = list(run_ids or [])
    if ids and (status is not None or workflow is not None):
        raise typer.BadParameter("give run ids or --status/--workflow, not both", ctx=ctx, param_hint="RUN_IDS")
    if not ids and status is None:
        if workflow is not None:
            raise typer.BadParameter(
                "--workflow needs --status (e.g. --status WAITING)", ctx=ctx, param_hint="--status"
            )
        raise typer.BadParameter(
            "give the run ids to cancel, or --status S [--workflow W]", ctx=ctx, param_hint="RUN_IDS"
        )
    wanted = status.upper() if status is not None else None
    if wanted is not None and wanted not in STATUSES:
        raise typer.BadParameter(
            f"unknown status {status!r}; use one of {', '.join(STATUSES)}", ctx=ctx, param_hint="--status"
        )

    async def select(services: ServiceContext) -> list[str]:
        if wanted is None:
            # Every id must name one run before anything is canceled: a typo or an ambiguous prefix cancels
            # nothing (RunNotFound); a whole id that no run has is reported per run by cancel_runs.
            return [await resolve_run_id(services, r) for r in ids]
        return await select_cancelable(services, status=wanted, workflow_id=workflow)

    async def go() -> list[CancelOutcome]:
        async with open_services(load_settings(), tenant=options(ctx).tenant) as services:
            chosen = await select(services)
            if not chosen:
                return []
            # A single named run needs no prompt: naming it was the decision. Anything counted is confirmed.
            if not yes and (wanted is not None or len(chosen) > 1):
                _confirm(chosen, wanted, workflow)
            return await cancel_runs(services, chosen, actor=Actor.current(), on_progress=_progress)

    outcomes = run_async(go())
    if as_json:
        print_json([o.model_dump(mode="json") for o in outcomes])
    elif not outcomes:
        echo("No runs match; nothing to cancel.")
        return
    else:
        _report(outcomes)
    if any(o.outcome == "refused" for o in outcomes):
        raise typer.Exit(1)


def _confirm(chosen: list[str], status: str | None, workflow: str | None) -> None:
    what = f"{len(chosen)} run(s)"
    if status is not None:
        what += f" with status {status}" + (f" of workflow {workflow}" if workflow else "")
    if not _interactive():
        echo(f"error: this would cancel {what}; pass --yes to confirm when not at a terminal.", err=True)
        raise typer.Exit(1)
    if not typer.confirm(f"Cancel {what}?", default=False, err=True):
        echo("Nothing canceled.", err=True)
        raise typer.Exit(1)


def _progress(done: int, total: int) -> None:
    if total > PROGRESS_EVERY and (done % PROGRESS_EVERY == 0 or done == total):
        echo(f"canceling… {done}/{total} done", err=True)


def _report(outcomes: list[CancelOutcome]) -> None:
    counts = dict.fromkeys(_LABELS, 0)
    for o in outcomes:
        counts[o.outcome] += 1
        line = f"{o.run_id}  {_LABELS[o.outcome]}"
        if o.reason:
            line += f": {o.reason}"
        echo(line)
    summary = ", ".join(f"{counts[k]} {label}" for k, label in _LABELS.items() if counts[k] or k in _SHOWN_WHEN_ZERO)
    echo(f"total {len(outcomes)}: {summary}")
    if counts["canceled"]:
        echo(
            "Canceled runs show CANCELED once their workflows have unwound (`runstudio runs --status CANCELED`).",
            err=True,
        )
