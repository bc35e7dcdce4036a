"""``runstudio schedules`` and ``runstudio schedule pause|unpause|trigger``: Temporal Schedules of definitions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from runstudio.commands.runs import with_services
from runstudio.options import JsonFlag
from runstudio.output import echo, print_json, print_table

if TYPE_CHECKING:
    from engine.services.context import ServiceContext
    from engine.services.schedules import ScheduleRow

WORKFLOW_ID_HELP = "The workflow id whose schedule to act on (see `runstudio schedules`)."
NoteOption = Annotated[
    str | None,
    typer.Option(
        "--note", help="Why; shown by `runstudio schedules` and Temporal (default: who did it).", show_default=False
    ),
]


def register(app: typer.Typer) -> None:
    """Add ``schedules`` and the ``schedule`` group to the root app."""
    app.command("schedules")(schedules_command)
    schedule_app = typer.Typer(
        name="schedule",
        help="Pause, unpause or trigger the Temporal Schedule of a definition with a schedule trigger.",
        no_args_is_help=True,
    )
    schedule_app.command("pause")(pause_command)
    schedule_app.command("unpause")(unpause_command)
    schedule_app.command("trigger")(trigger_command)
    app.add_typer(schedule_app, name="schedule")


def schedules_command(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List the definitions with a schedule trigger and their Temporal Schedules.

    Columns: schedule id, workflow, cron (and time zone), state (active, paused, or missing: Temporal has no
    schedule yet and the worker's reconciler will create it), next action time (UTC; "(paused)" while paused,
    though Temporal keeps computing the cron's times), last action time and the latest run the schedule
    started. With --json: a list of objects with those fields (next_action_times as Temporal reports them).
    """
    from engine.services.schedules import list_schedules

    async def work(services: ServiceContext) -> Any:
        return await list_schedules(services)

    rows: list[ScheduleRow] = with_services(ctx, work)
    if as_json:
        print_json([row.model_dump(mode="json") for row in rows])
        return
    if not rows:
        echo("No schedules: no definition's latest version has a schedule trigger.")
        return
    print_table(
        ["SCHEDULE", "WORKFLOW", "CRON", "STATE", "NEXT", "LAST", "LAST RUN"],
        [
            [
                row.schedule_id,
                f"{row.workflow_id} v{row.version}",
                row.cron + (f" ({row.timezone})" if row.timezone else ""),
                row.state + (f": {row.note}" if row.paused and row.note else ""),
                "(paused)" if row.paused else _when(row.next_action_times[0] if row.next_action_times else None),
                _when(row.last_action_time),
                f"{row.last_run_id} {row.last_run_status}" if row.last_run_id else "-",
            ]
            for row in rows
        ],
    )


def pause_command(
    ctx: typer.Context,
    workflow_id: Annotated[str, typer.Argument(metavar="WORKFLOW_ID", help=WORKFLOW_ID_HELP)],
    note: NoteOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Pause a schedule: it starts no run on its own until unpaused (`schedule trigger` still starts one)."""
    _set_paused(ctx, workflow_id, paused=True, note=note, as_json=as_json)


def unpause_command(
    ctx: typer.Context,
    workflow_id: Annotated[str, typer.Argument(metavar="WORKFLOW_ID", help=WORKFLOW_ID_HELP)],
    note: NoteOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Unpause a schedule: it starts runs at its cron times again (missed times are not made up)."""
    _set_paused(ctx, workflow_id, paused=False, note=note, as_json=as_json)


def trigger_command(
    ctx: typer.Context,
    workflow_id: Annotated[str, typer.Argument(metavar="WORKFLOW_ID", help=WORKFLOW_ID_HELP)],
    as_json: JsonFlag = False,
) -> None:
    """Start one run now through the schedule (trigger "schedule"), also while it is paused.

    Prints the run id once the run exists. With --json: {"schedule_id", "workflow_id", "run_id", "paused"}
    (run_id null if the run had not appeared within 10 s; it still will).
    """
    from engine.services.schedules import trigger_schedule

    async def work(services: ServiceContext) -> Any:
        return await trigger_schedule(services, workflow_id)

    triggered = with_services(ctx, work)
    if as_json:
        print_json(triggered.model_dump(mode="json"))
        return
    if triggered.paused:
        echo(f"note: the schedule of {workflow_id} is paused; this one run starts anyway.", err=True)
    if triggered.run_id is None:
        echo(f"Triggered {triggered.schedule_id}; the run has not appeared yet (see `runstudio schedules`).")
    else:
        echo(f"Triggered {triggered.schedule_id}: run {triggered.run_id}")


def _set_paused(ctx: typer.Context, workflow_id: str, *, paused: bool, note: str | None, as_json: bool) -> None:
    from engine.services.schedules import pause_schedule, unpause_schedule

    async def work(services: ServiceContext) -> Any:
        act = pause_schedule if paused else unpause_schedule
        return await act(services, workflow_id, note=note)

    row = with_services(ctx, work)
    if as_json:
        print_json(row.model_dump(mode="json"))
        return
    echo(f"{row.schedule_id} is {row.state}" + (f" ({row.note})" if row.note else ""))


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
