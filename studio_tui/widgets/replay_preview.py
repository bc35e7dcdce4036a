"""``ReplayPreviewView``: the replay modal's list of action calls that a replay would reuse or run again."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from engine.services.replay_preview import REUSED, RUNS_AGAIN, ReplayPreview, side_effects_sentence
from studio_tui.format import role_style
from studio_tui.sanitize import safe_text

_LOOK: Final = {REUSED: ("✓", "success"), RUNS_AGAIN: ("↻", "warning")}
"""Glyph and colour role per outcome; ``unknown`` is ``?`` in the error role (it may run again)."""


@dataclass(frozen=True)
class PreviewState:
    """What the preview area shows: a computed preview, a note (computing, waiting for valid JSON), or a problem."""

    preview: ReplayPreview | None = None
    note: str | None = None
    problem: str | None = None


def preview_renderable(state: PreviewState, variables: Mapping[str, str]) -> RenderableType:
    """The preview as a heading and one line per call (every untrusted string through ``safe_text``)."""
    if state.problem is not None:
        text = Text("Preview: ", style=role_style(variables, "error", bold=True))
        text.append_text(safe_text(state.problem, style=role_style(variables, "error")))
        return text
    preview = state.preview
    if preview is None:
        return Text(f"Preview: {state.note or 'computing…'}", style="dim")
    if not preview.calls:
        return Text("The original run called no actions: a replay repeats no side effect.", style="dim")
    # No "Preview:" label here: the sentence says what it is, and the line must fit 80 columns.
    count_role = "warning" if preview.side_effects else "success"
    heading = Text()
    heading.append(side_effects_sentence(preview.side_effects), style=role_style(variables, count_role, bold=True))
    heading.append(
        f" · {preview.reused} reused · {preview.runs_again} run again · {preview.unknown} unknown"
        + (" · updating…" if state.note else ""),
        style="dim",
    )
    table = Table.grid(padding=(0, 1), expand=True)
    table.add_column(no_wrap=True)
    table.add_column(no_wrap=True)
    table.add_column(no_wrap=True)
    table.add_column(no_wrap=True)
    table.add_column(no_wrap=True, overflow="ellipsis", ratio=1)
    for call in preview.calls:
        glyph, role = _LOOK.get(call.outcome, ("?", "error"))
        where = call.step_path + (f" #{call.iteration}" if call.iteration else "")
        table.add_row(
            Text(f"{glyph} {call.outcome}", style=role_style(variables, role)),
            safe_text(f"{call.action} v{call.version}", single_line=True),
            safe_text(where, single_line=True, style="dim"),
            Text("pure" if call.pure else "side effect", style="dim" if call.pure else "bold"),
            safe_text(call.reason, single_line=True, style="dim"),
        )
    return Group(heading, table)


class ReplayPreviewView(Static):
    """Shows a :class:`PreviewState`; the modal computes it and calls :meth:`show`."""

    def show(self, state: PreviewState) -> None:
        """Render ``state`` with the current theme's colours."""
        self.update(preview_renderable(state, self.app.theme_variables))
