"""The schedules screen (key ``S``): each scheduled definition's Temporal Schedule, with pause/unpause and trigger.

The same columns as ``runstudio schedules``. ``p`` pauses or unpauses and ``t`` starts one run now, each after a
confirmation; both are hidden in read-only mode. ``enter`` opens the last run a schedule started.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Final

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import DataTable, Static

from engine.services import schedules as service
from engine.services.context import ServiceContext
from engine.services.schedules import ScheduleRow, Triggered
from studio_tui.failures import failure_text
from studio_tui.format import role_style, short_id, timestamp, until_time
from studio_tui.messages import OpenRun
from studio_tui.refresh import PeriodicLoad
from studio_tui.sanitize import safe_text
from studio_tui.screens.confirm_modal import ConfirmModal
from studio_tui.widgets.health_header import HealthHeader
from studio_tui.widgets.keyed_table import ColumnSpec, KeyedTable, Row
from studio_tui.widgets.studio_footer import StudioFooter

REFRESH_SECONDS: Final = 5.0
"""Each refresh describes every schedule in Temporal (one RPC each), so not as often as the runs list."""
WIDE: Final = 100
"""Terminal columns from which the table has room for the last action time."""


@dataclass(frozen=True)
class ScheduleSource:
    """Where the screen reads and changes schedules: ``engine.services.schedules`` unless a test fixes the rows."""

    load: Callable[[ServiceContext], Awaitable[list[ScheduleRow]]] = service.list_schedules
    pause: Callable[[ServiceContext, str], Awaitable[ScheduleRow]] = service.pause_schedule
    unpause: Callable[[ServiceContext, str], Awaitable[ScheduleRow]] = service.unpause_schedule
    trigger: Callable[[ServiceContext, str], Awaitable[Triggered]] = service.trigger_schedule


def _cell(text: Text | str, style: str = "") -> Text:
    """One space of gutter before every cell, as on the other lists."""
    cell = Text(" ", no_wrap=True, overflow="ellipsis")
    cell.append_text(text if isinstance(text, Text) else Text(text, style=style))
    return cell


def schedule_row(row: ScheduleRow, now: datetime) -> Row:
    """The table row of one schedule; every value from Postgres or Temporal is sanitised."""
    cron = row.cron + (f" {row.timezone}" if row.timezone else "")
    state = {"active": "● active", "paused": "‖ paused", "missing": "✗ missing"}[row.state]
    upcoming = row.next_action_times[0] if row.next_action_times and not row.paused else None
    last_run = f"{short_id(row.last_run_id)} {row.last_run_status}" if row.last_run_id else "–"
    return row.workflow_id, [
        _cell(safe_text(f"{row.workflow_id}@{row.version}", single_line=True)),
        _cell(safe_text(cron, single_line=True)),
        _cell(state, "dim" if row.state == "missing" else ""),
        _cell("–" if upcoming is None else until_time(upcoming, now)),
        _cell("–" if row.last_action_time is None else until_time(row.last_action_time, now)),
        _cell(safe_text(last_run, single_line=True)),
    ]


class SchedulesScreen(Screen[None]):
    """Every schedule of the tenant; pausing and triggering are refused in read-only mode."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "toggle_pause", "Pause/unpause"),
        Binding("t", "trigger", "Trigger now"),
        Binding("enter", "open_last_run", "Last run", priority=True),
        Binding("r", "reload", "Refresh", show=False),
        Binding("escape", "back", "Back"),
    ]
    HELP_NOTES: ClassVar[tuple[str, ...]] = (
        "A paused schedule starts no run on its own; t still starts one now (Temporal allows it, by design).",
        "missing: the latest version is scheduled but Temporal has no schedule yet; the worker's reconciler "
        "creates it.",
    )
    READ_ONLY_HELP_NOTES: ClassVar[tuple[str, ...]] = (HELP_NOTES[1],)

    problem: reactive[str | None] = reactive(None, init=False)
    """Why the last load or action failed (the table keeps what it had); ``None`` once a load succeeds."""

    class Loaded(Message):
        """The schedules as just read."""

        def __init__(self, rows: list[ScheduleRow]) -> None:
            self.rows = rows
            super().__init__()

    class Failed(Message):
        """Loading or an action failed with ``error``."""

        def __init__(self, error: str) -> None:
            self.error = error
            super().__init__()

    class Done(Message):
        """An action succeeded; ``summary`` says what it did."""

        def __init__(self, summary: str) -> None:
            self.summary = summary
            super().__init__()

    def __init__(self, services: ServiceContext, *, read_only: bool, source: ScheduleSource | None = None) -> None:
        super().__init__()
        self.services = services
        self.read_only = read_only
        self.source = source or ScheduleSource()
        self._rows: list[ScheduleRow] = []
        self._loaded_once = False
        self._refresh = PeriodicLoad(self, self._load, REFRESH_SECONDS)

    def compose(self) -> ComposeResult:
        """Header, title, the table, the note line, footer."""
        yield HealthHeader(tenant=self.services.tenant, read_only=self.read_only)
        yield Static(id="schedules-title", markup=False)
        yield KeyedTable(id="schedules-table", cell_padding=0)
        yield Static(id="schedules-empty", markup=False)
        yield Static(id="schedules-detail", markup=False)
        yield StudioFooter()

    def on_mount(self) -> None:
        """Load now and every ``REFRESH_SECONDS``."""
        self.query_one("#schedules-table", KeyedTable).display = False
        self.query_one("#schedules-empty", Static).update(Text("Loading…", style="dim"))
        self._show_title()
        self._refresh.start()

    def on_screen_suspend(self, _: events.ScreenSuspend) -> None:
        """No refreshing under a confirmation or a run."""
        self._refresh.pause()

    def on_screen_resume(self, _: events.ScreenResume) -> None:
        """Catch up when the operator comes back."""
        self._refresh.resume(catch_up=self._loaded_once)
        self.refresh_bindings()

    # -- workers ----------------------------------------------------------------------------------

    @work(exclusive=True, exit_on_error=False, group="schedules")
    async def _load(self) -> None:
        try:
            rows = await self.source.load(self.services)
        except Exception as exc:
            self.post_message(self.Failed(failure_text(exc, self.services.endpoints)))
            return
        self.post_message(self.Loaded(rows))

    @work(exclusive=True, exit_on_error=False, group="schedule-action")
    async def _act(self, action: str, workflow_id: str) -> None:
        try:
            if action == "trigger":
                triggered = await self.source.trigger(self.services, workflow_id)
                run = "the run will appear shortly" if triggered.run_id is None else f"run {triggered.run_id}"
                summary = f"Triggered {workflow_id}: {run}"
            else:
                act = self.source.pause if action == "pause" else self.source.unpause
                row = await act(self.services, workflow_id)
                summary = f"{workflow_id}: schedule {row.state}"
        except Exception as exc:
            self.post_message(self.Failed(failure_text(exc, self.services.endpoints)))
            return
        self.post_message(self.Done(summary))

    def on_schedules_screen_loaded(self, message: Loaded) -> None:
        """Show the rows, keeping the cursor on the same schedule."""
        first = not self._loaded_once
        self._loaded_once = True
        self.problem = None
        self._rows = message.rows
        self._render_rows()
        table = self.query_one("#schedules-table", KeyedTable)
        if first and table.display:
            table.focus()
        self.refresh_bindings()
        self._show_detail()

    def on_schedules_screen_failed(self, message: Failed) -> None:
        """Say why in the title line; the next refresh tries again."""
        self.problem = message.error

    def on_schedules_screen_done(self, message: Done) -> None:
        """Confirm what happened and reload."""
        self.notify(message.summary, markup=False)
        self._load()

    def watch_problem(self) -> None:
        """The title doubles as the error line."""
        self._show_title()

    # -- rendering --------------------------------------------------------------------------------

    def _render_rows(self) -> None:
        # Below WIDE columns the last action time leaves the table for the line under it (it is there too).
        wide = self.size.width >= WIDE
        fixed = [
            ColumnSpec("cron", " Cron", 24 if wide else 16),
            ColumnSpec("state", " State", 11),
            ColumnSpec("next", " Next", 12),
            *([ColumnSpec("last", " Last", 12)] if wide else []),
            ColumnSpec("run", " Last run", 19),
        ]
        rest = max(16, self.size.width - 1 - sum(column.width for column in fixed))
        columns = [ColumnSpec("workflow", " Workflow", rest), *fixed]
        now = self.services.clock()
        rows = [schedule_row(row, now) for row in self._rows]
        if not wide:
            rows = [(key, [*cells[:4], *cells[5:]]) for key, cells in rows]
        table = self.query_one("#schedules-table", KeyedTable)
        table.sync(columns, rows)
        table.display = bool(self._rows)
        empty = self.query_one("#schedules-empty", Static)
        empty.display = not self._rows
        empty.update(Text("No schedules: no definition's latest version has a schedule trigger.", style="dim"))
        self._show_title()

    def _show_title(self) -> None:
        title = Text.assemble(("Schedules", "bold"))
        if self._loaded_once:
            title.append(f" · {len(self._rows)}", style="dim")
        title.append(" · times UTC", style="dim")
        if self.problem is not None:
            title.append("  ⚠ ", style=role_style(self.app.theme_variables, "error", bold=True))
            title.append_text(safe_text(self.problem, single_line=True))
        self.query_one("#schedules-title", Static).update(title)

    def _show_detail(self) -> None:
        """The line under the table: the highlighted schedule's id and note."""
        row = self.highlighted
        text = Text()
        if row is not None:
            text.append_text(safe_text(row.schedule_id, single_line=True, style="dim"))
            if row.note:
                text.append(" · note: ", style="dim")
                text.append_text(safe_text(row.note, single_line=True))
            if row.last_action_time is not None:
                text.append(f" · last action {timestamp(row.last_action_time)}", style="dim")
        self.query_one("#schedules-detail", Static).update(text)

    def on_resize(self) -> None:
        """The workflow column follows the width."""
        if self._loaded_once:
            self._render_rows()

    # -- state and actions ------------------------------------------------------------------------

    @property
    def highlighted(self) -> ScheduleRow | None:
        """The schedule under the cursor."""
        key = self.query_one("#schedules-table", KeyedTable).highlighted_key
        return next((row for row in self._rows if row.workflow_id == key), None)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Pause and trigger exist only outside read-only mode, for a schedule Temporal has."""
        if action in ("toggle_pause", "trigger"):
            if self.read_only:
                return False
            row = self.highlighted if self.is_mounted else None
            return None if row is None or row.state == "missing" else True
        if action == "open_last_run":
            row = self.highlighted if self.is_mounted else None
            return row is not None and row.last_run_id is not None
        return True

    def on_data_table_row_highlighted(self, _: DataTable.RowHighlighted) -> None:
        """The footer and the note line follow the cursor."""
        self.refresh_bindings()
        self._show_detail()

    def action_toggle_pause(self) -> None:
        """Pause (or unpause) the highlighted schedule, after a confirmation."""
        row = self.highlighted
        if row is None or self.read_only or row.state == "missing":
            return
        verb = "unpause" if row.paused else "pause"
        question = Text(f"{verb.capitalize()} the schedule of ")
        question.append_text(safe_text(row.workflow_id, single_line=True, style="bold"))
        question.append(
            "? It will start runs at its cron times again."
            if row.paused
            else "? It will start no run on its own until unpaused."
        )
        self.app.push_screen(
            ConfirmModal(f"{verb.capitalize()} schedule", question, verb.capitalize()),
            lambda yes: self._confirmed(yes, verb, row.workflow_id),
        )

    def action_trigger(self) -> None:
        """Start one run of the highlighted schedule now, after a confirmation (also while paused)."""
        row = self.highlighted
        if row is None or self.read_only or row.state == "missing":
            return
        question = Text("Start one run of ")
        question.append_text(safe_text(row.workflow_id, single_line=True, style="bold"))
        question.append(" now through its schedule?")
        if row.paused:
            question.append(" The schedule is paused; this one run starts anyway.")
        self.app.push_screen(
            ConfirmModal("Trigger schedule", question, "Trigger"),
            lambda yes: self._confirmed(yes, "trigger", row.workflow_id),
        )

    def _confirmed(self, yes: bool | None, action: str, workflow_id: str) -> None:
        if yes:
            self._act(action, workflow_id)

    def action_open_last_run(self) -> None:
        """Open the last run the highlighted schedule started."""
        row = self.highlighted
        if row is not None and row.last_run_id is not None:
            self.post_message(OpenRun(row.last_run_id))

    def action_reload(self) -> None:
        """Refresh now."""
        self._load()

    def action_back(self) -> None:
        """Back to the runs."""
        self.app.pop_screen()
