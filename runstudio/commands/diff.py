"""``runstudio diff RUN_A RUN_B``: two runs compared — input, outcome, steps and vars/output, redacted."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from runstudio.commands.runs import RUN_ID_HELP, with_services
from runstudio.options import JsonFlag
from runstudio.output import echo, print_json, print_table

if TYPE_CHECKING:
    from engine.diff.json_paths import PathSection
    from engine.services.context import ServiceContext
    from engine.services.run_diff import RunDiff


DIFF_HELP = (
    "Compare two runs of one workflow: input and vars/output by JSON path, the outcome (status, error), and the "
    "steps aligned by step path.\n\n"
    "Everything is redacted. A secret behind [REDACTED] is never decrypted: for a replay and its original, the "
    "replay recorded which secrets its edit replaced (shown as 'changed', never the value); for other runs, "
    "equal placeholders are 'not compared'.\n\n"
    "A step differs when its status, attempts or error differ; durations are shown as figures and never count "
    "as a difference.\n\n"
    "Runs of different versions of one workflow are compared by path under a header naming both versions; runs "
    "of different workflows are refused (exit 1)."
)


def register(app: typer.Typer) -> None:
    """Add ``diff`` to the root app."""
    app.command("diff", help=DIFF_HELP)(diff_command)


def diff_command(
    ctx: typer.Context,
    run_a: str = typer.Argument(..., help=f"Run A, the 'before'. {RUN_ID_HELP}"),
    run_b: str = typer.Argument(..., help=f"Run B, the 'after'. {RUN_ID_HELP}"),
    as_json: JsonFlag = False,
) -> None:
    """Compare two runs of one workflow (see ``DIFF_HELP``)."""
    from engine.services.run_diff import diff_runs

    async def work(services: ServiceContext) -> Any:
        return await diff_runs(services, run_a, run_b)

    diff: RunDiff = with_services(ctx, work)
    if as_json:
        print_json(diff.model_dump(mode="json"))
        return
    print_diff(diff)


def print_diff(diff: RunDiff) -> None:
    """The diff as aligned text sections: header, outcome, input, steps, vars/output, how secrets were compared."""
    from engine.diff.render import ABSENT, error_text, step_side

    print_table(
        ["", "RUN", "WORKFLOW", "STATUS", "TRIGGER"],
        [
            [side, ref.run_id, f"{ref.workflow_id}@{ref.workflow_version}", ref.status, ref.trigger]
            for side, ref in (("A", diff.a), ("B", diff.b))
        ],
    )
    if diff.relation:
        echo(diff.relation)
    if diff.version_note:
        echo(diff.version_note)
    s = diff.summary
    echo(
        f"{s.input_changes} input change(s), outcome {'differs' if s.outcome_changed else 'same'}, steps "
        f"{s.steps_added} added / {s.steps_removed} removed / {s.steps_changed} changed, "
        f"{s.state_changes} vars/output change(s)"
    )

    echo()
    echo("outcome")
    o = diff.outcome
    print_table(
        ["", "A", "B", ""],
        [
            ["status", o.a.status, o.b.status, "changed" if o.status_changed else "same"],
            [
                "error",
                error_text(o.a.error_category, o.a.error_message),
                error_text(o.b.error_category, o.b.error_message),
                "changed" if o.error_changed else "same",
            ],
        ],
    )

    _print_section("input (redacted)", diff.input)

    echo()
    echo("steps (aligned by step path; durations are figures, not differences)")
    if diff.steps:
        print_table(
            ["PATH", "STEP", "CHANGE", "A", "B"],
            [
                [
                    step.path + (f" (iteration {step.iteration})" if step.iteration is not None else ""),
                    step.step_id,
                    step.change + (f": {', '.join(step.differences)}" if step.differences else ""),
                    step_side(step.a),
                    step_side(step.b),
                ]
                for step in diff.steps
            ],
        )
    else:
        echo(f"  {ABSENT} neither run has a step yet")

    _print_section("vars/output", diff.state)
    echo()
    echo(f"secrets: {diff.secrets_note}")


def _print_section(title: str, section: PathSection) -> None:
    from engine.diff.render import ABSENT, short_value

    echo()
    echo(title)
    if not section.changes:
        echo("  no differences")
        return
    print_table(
        ["PATH", "CHANGE", "A", "B"],
        [
            [
                change.path,
                change.change + (" (secret)" if change.secret and change.change != "not compared" else ""),
                ABSENT if change.change == "added" else short_value(change.before),
                ABSENT if change.change == "removed" else short_value(change.after),
            ]
            for change in section.changes
        ],
    )
    if section.omitted:
        echo(f"  … and {section.omitted} more, not listed")
