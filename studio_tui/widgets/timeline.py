"""The step timeline: steps nested by control flow, with status, attempt, duration bar and error."""

from collections.abc import Mapping, Sequence
from datetime import datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Static

from engine.services.runs import StepView
from studio_tui.format import clock_time, duration, elapsed, role_style, status_glyph, status_role
from studio_tui.sanitize import safe_text
from studio_tui.step_tree import TimelineRow, timeline_rows
from studio_tui.widgets.keyed_table import ColumnSpec, KeyedTable, Row

_EIGHTHS = " ▏▎▍▌▋▊▉"
_INDENT = 2
_FIXED = {"type": 16, "attempt": 3, "took": 6}
_STEP_MIN, _STEP_MAX = 18, 30
_BAR_MIN, _BAR_MAX = 8, 20
_ERROR_MIN = 10
FIRST_ROWS = 60
"""Rows drawn before the first paint of a run's timeline (more than a screenful)."""
MORE_ROWS = 150
"""Rows added per frame after that, so a run of hundreds of steps opens at once and fills in behind."""
MORE_MARGIN = 20
"""Ask for the next page of steps when the cursor or the view comes this close to the last row loaded."""


def duration_bar(value_ms: int, longest_ms: int, width: int) -> str:
    """A bar ``width`` cells wide at most, in eighths of a cell, proportional to ``value_ms / longest_ms``."""
    if longest_ms <= 0 or width <= 0:
        return ""
    eighths = round(8 * width * min(value_ms, longest_ms) / longest_ms)
    if value_ms > 0:
        eighths = max(eighths, 1)  # anything that took time is visible
    full, rest = divmod(eighths, 8)
    return "█" * full + (_EIGHTHS[rest] if rest else "")


def error_line(error: Mapping[str, object] | None) -> str | None:
    """``Category: message`` of a step or run error (raw; sanitise before showing)."""
    if not error:
        return None
    category = error.get("category")
    message = error.get("message")
    if category and message:
        return f"{category}: {message}"
    return str(message or category or error)


class Timeline(Vertical):
    """A run's timeline table, and the highlighted step's full details under it.

    It may be given only the first steps of a run (``more``): when the cursor or the view nears the last row, it
    posts ``NeedMore`` once, and its owner shows it the longer list.
    """

    class NeedMore(Message):
        """The operator is near the last step shown and the run has more: read the next page."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._steps: Sequence[StepView] = ()
        self._more = False
        self._asked_at = -1
        """How many steps were shown when ``NeedMore`` was last posted (asked once per length)."""
        self._by_key: dict[str, StepView] = {}
        self._now: datetime | None = None
        self._width = 0
        self._filling = 0
        """Bumped by every render: a fill-in scheduled by an older one stops."""

    def compose(self) -> ComposeResult:
        """The table and the detail line."""
        yield KeyedTable(id="timeline-table")
        yield Static(id="step-detail", markup=False)

    def reset(self) -> None:
        """Forget the run shown (its screen is given another run): no rows, the cursor and view at the top."""
        self._steps = ()
        self._more = False
        self._asked_at = -1
        self._by_key = {}
        self._now = None
        self._width = 0  # drawn at the next width known (its pane may be hidden now: no width until shown)
        self._filling += 1  # a fill-in of the previous run's rows stops
        table = self.query_one(KeyedTable)
        table.clear()  # also puts the cursor and the view back at the top
        self.query_one("#step-detail", Static).update("")

    def show(self, steps: Sequence[StepView], now: datetime, *, more: bool = False) -> None:
        """Show these steps (durations of steps still running are measured to ``now``); ``more``: the run has
        steps after these (``NeedMore`` asks for them)."""
        # The clock ticks every second: when only ``now`` moved and no step is running, no row would change, so
        # 500 rows are not built again to find that out.
        unchanged = self._now is not None and (steps is self._steps or steps == self._steps) and more == self._more
        if unchanged and all(step.completed_at is not None or step.duration_ms is not None for step in steps):
            return
        self._steps = steps
        self._more = more
        self._now = now
        if self.size.width:  # else not laid out yet: ``on_resize`` draws it once the width is known
            self._render_table()

    def on_resize(self) -> None:
        """Column widths follow the widget's width."""
        if self._now is not None and self.size.width != self._width:
            self._render_table()

    def _columns(self) -> list[ColumnSpec]:
        # Each column takes 2 cells of padding; the vertical scrollbar takes 1.
        available = max(self.size.width, 60) - 1 - 2 * 6 - sum(_FIXED.values())
        step = min(_STEP_MAX, max(_STEP_MIN, available // 3))
        bar = min(_BAR_MAX, max(_BAR_MIN, (available - step) // 3))
        error = max(_ERROR_MIN, available - step - bar)
        return [
            ColumnSpec("step", "Step", step),
            ColumnSpec("type", "Type", _FIXED["type"]),
            ColumnSpec("attempt", "Try", _FIXED["attempt"]),
            ColumnSpec("took", "Took", _FIXED["took"]),
            ColumnSpec("bar", "", bar),
            ColumnSpec("error", "Error", error),
        ]

    def _render_table(self) -> None:
        assert self._now is not None
        table = self.query_one(KeyedTable)
        self._width = self.size.width
        columns = self._columns()
        bar_width = columns[4].width
        rows = timeline_rows(self._steps)
        self._by_key = {row.key: row.step for row in rows if row.step is not None}
        durations = {row.key: self._duration_ms(row.step) for row in rows if row.step is not None}
        longest = max(durations.values(), default=0)
        variables = self.app.theme_variables
        self._filling += 1
        # The first time, draw a screenful now and the rest after each paint (a table measures every row it is
        # given before it paints); a later render (a running run) updates the rows the table holds in place.
        first = len(rows) if table.row_count else FIRST_ROWS
        built = [self._row(row, durations, longest, bar_width, variables) for row in rows[:first]]
        table.sync(columns, built)
        table.display = bool(rows)
        self._show_detail(table)
        self._maybe_more(table)
        if len(rows) > first:
            fill = (self._filling, columns, rows, built, durations, longest, bar_width, variables)
            self.call_after_refresh(self._fill_in, *fill)

    def _fill_in(
        self,
        filling: int,
        columns: list[ColumnSpec],
        rows: list[TimelineRow],
        built: list[Row],
        durations: Mapping[str, int],
        longest: int,
        bar_width: int,
        variables: Mapping[str, str],
    ) -> None:
        """Add the next rows of the first render, unless a newer render replaced it."""
        if filling != self._filling or not self.is_mounted:
            return
        more = [
            self._row(row, durations, longest, bar_width, variables)
            for row in rows[len(built) : len(built) + MORE_ROWS]
        ]
        built = [*built, *more]
        self.query_one(KeyedTable).sync(columns, built, changed={key for key, _ in more})
        if len(built) < len(rows):
            self.call_after_refresh(
                self._fill_in, filling, columns, rows, built, durations, longest, bar_width, variables
            )

    def _duration_ms(self, step: StepView) -> int:
        if step.duration_ms is not None:
            return step.duration_ms
        assert self._now is not None
        return int(elapsed(step.started_at, step.completed_at, self._now).total_seconds() * 1000)

    def _row(
        self,
        row: TimelineRow,
        durations: Mapping[str, int],
        longest: int,
        bar_width: int,
        variables: Mapping[str, str],
    ) -> Row:
        indent = " " * (_INDENT * row.depth)
        if row.step is None:
            label = Text(f"{indent}▸ {row.label}", style="italic dim", no_wrap=True, overflow="ellipsis")
            return row.key, [label, Text(), Text(), Text(), Text(), Text()]
        step = row.step
        style = role_style(variables, status_role(step.status))
        name = Text(f"{indent}{status_glyph(step.status)} ", style=style, no_wrap=True, overflow="ellipsis")
        name.append_text(safe_text(step.step_id, single_line=True))
        took_ms = durations[row.key]
        took = duration(took_ms) if step.completed_at is not None else duration(took_ms) + "…"
        error = error_line(step.error)
        return row.key, [
            name,
            safe_text(step.type, single_line=True),
            Text(f"#{step.attempt}" if step.attempt > 1 else "", style="bold"),
            Text(took, no_wrap=True, overflow="ellipsis"),
            Text(duration_bar(took_ms, longest, bar_width), style=style, no_wrap=True),
            safe_text(error, single_line=True, style=role_style(variables, "error")) if error else Text(),
        ]

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """Show the details of the step under the cursor (and read more steps when it nears the last one)."""
        event.stop()
        table = self.query_one(KeyedTable)
        self._show_detail(table)
        self._maybe_more(table)

    def on_keyed_table_viewport_moved(self, event: KeyedTable.ViewportMoved) -> None:
        """Scrolling near the last row loaded reads the next page of steps."""
        event.stop()
        self._maybe_more(self.query_one(KeyedTable))

    def ask_again(self) -> None:
        """Reading the next page failed: the next move near the end asks again."""
        self._asked_at = -1

    def _maybe_more(self, table: KeyedTable) -> None:
        if not self._more or self._asked_at == len(self._steps) or not table.row_count:
            return
        bottom = max(table.cursor_row, round(table.scroll_y) + table.size.height)
        if bottom >= table.row_count - MORE_MARGIN:
            self._asked_at = len(self._steps)
            self.post_message(self.NeedMore())

    def _show_detail(self, table: KeyedTable) -> None:
        detail = self.query_one("#step-detail", Static)
        key = table.highlighted_key
        step = self._by_key.get(key) if key is not None else None
        if step is None:
            detail.update(Text("No steps have run yet." if not self._steps else "", style="dim"))
            return
        text = Text()
        text.append_text(safe_text(step.step_id, single_line=True, style="bold"))
        text.append("  ")
        text.append_text(safe_text(step.path, single_line=True))
        if step.iteration:
            text.append("  iteration ")
            text.append_text(safe_text(step.iteration, single_line=True))
        text.append(f"  attempt {step.attempt}  {clock_time(step.started_at)} → ")
        text.append(clock_time(step.completed_at) if step.completed_at else "still running")
        error = error_line(step.error)
        if error:
            text.append("\n")
            text.append_text(safe_text(error, style=role_style(self.app.theme_variables, "error")))
        detail.update(text)
