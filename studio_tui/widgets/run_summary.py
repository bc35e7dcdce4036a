"""The run screen's summary: status, workflow, ids, trigger, times, current step and the run's error."""

from collections.abc import Mapping
from datetime import datetime

from rich.style import Style
from rich.text import Text
from textual.widgets import Static

from engine.services.runs import RunDetail
from studio_tui.format import ago, duration, elapsed, role_style, short_id, status_text, timestamp
from studio_tui.sanitize import safe_text
from studio_tui.widgets.timeline import error_line

_ERROR_LIMIT = 200
"""Characters of the run's error shown in the summary; the timeline's detail line shows a step's in full."""


def summary_text(
    detail: RunDetail, now: datetime, variables: Mapping[str, str], temporal_page: str | None = None
) -> Text:
    """Four to six short lines that fit 80 columns (long values are cut by the widget, not wrapped).

    ``temporal_page`` is the run's page in Temporal's Web UI: shown as a terminal hyperlink (the text is ours,
    the URL only goes into the link, never parsed as markup), with the key that copies it.
    """
    text = status_text(detail.status, variables)
    text.no_wrap = False
    text.stylize("bold")
    text.append("  ")
    text.append_text(safe_text(f"{detail.workflow_id}@{detail.workflow_version}", single_line=True, style="bold"))
    text.append("  run ")
    text.append_text(safe_text(detail.run_id, single_line=True))

    text.append("\ntrigger ")
    text.append_text(safe_text(detail.trigger, single_line=True))
    for key, value in detail.trigger_metadata.items():
        if key == "parentRunId" and value == detail.parent_run_id:
            continue  # shown as "parent" below, with its key
        text.append("  ")
        text.append_text(safe_text(key, single_line=True, style="dim"))
        text.append(" ")
        if key == "replayOfRunId" and value == detail.replay_of_run_id:
            text.append_text(safe_text(short_id(value), single_line=True, style="bold"))
            text.append(" (o)", style="dim")  # o opens the original
            continue
        text.append_text(safe_text(value, single_line=True))
    if detail.parent_run_id:
        text.append("  parent ")
        text.append_text(safe_text(short_id(detail.parent_run_id), single_line=True, style="bold"))
        text.append(" (p)", style="dim")

    text.append(f"\nstarted {timestamp(detail.started_at)} ({ago(detail.started_at, now)})")
    took = duration(elapsed(detail.started_at, detail.completed_at, now))
    if detail.completed_at:
        ended = timestamp(detail.completed_at)
        same_day = ended[:10] == timestamp(detail.started_at)[:10]
        text.append(f"  ended {ended[11:] if same_day else ended}  took {took}")
    else:
        text.append(f"  running for {took}")
    text.append(f"  {detail.step_count} step{'' if detail.step_count == 1 else 's'}")

    if temporal_page:
        text.append("\ntemporal ")
        text.append("open in Temporal's Web UI", style=Style(link=temporal_page, underline=True))
        text.append(" (u copies the link)", style="dim")

    if detail.current_step_path and detail.completed_at is None:
        text.append("\ncurrent step ")
        text.append_text(safe_text(detail.current_step_path, single_line=True))
    error = error_line(detail.error)
    if error:
        text.append("\nerror ", style=role_style(variables, "error", bold=True))
        shown = error if len(error) <= _ERROR_LIMIT else error[:_ERROR_LIMIT] + "…"
        text.append_text(safe_text(shown, single_line=True, style=role_style(variables, "error")))
    return text


class RunSummary(Static):
    """The summary block at the top of the run screen."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, markup=False)

    def show(self, detail: RunDetail, now: datetime, temporal_page: str | None = None) -> None:
        """Show ``detail`` with times relative to ``now`` (and the link to ``temporal_page`` when known)."""
        self.update(summary_text(detail, now, self.app.theme_variables, temporal_page))
