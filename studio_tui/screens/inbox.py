"""The inbox: open human tasks and waiting runs, newest first; enter answers a task or opens a waiting run.

What a waiting run waits for is not in the runs list, so it is read from the run's detail lazily, for the
highlighted row only, and shown in the line under the tables.
"""

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

from engine.services.context import ServiceContext
from engine.services.runs import RunSummary, WaitView, get_run_detail, list_runs
from engine.services.tasks import TaskView, list_open_tasks
from studio_tui.failures import failure_text
from studio_tui.format import ago, role_style, short_id
from studio_tui.messages import OpenRun
from studio_tui.refresh import PeriodicLoad
from studio_tui.sanitize import safe_text
from studio_tui.screens.task_response_modal import TaskResponseModal
from studio_tui.widgets.health_header import HealthHeader
from studio_tui.widgets.keyed_table import ColumnSpec, KeyedTable, Row
from studio_tui.widgets.studio_footer import StudioFooter

REFRESH_SECONDS: Final = 2.0
WAITING_LIMIT: Final = 500
"""Waiting runs listed at most (the count says ``500+`` beyond)."""
TASKS_LIMIT: Final = 500
"""Open tasks listed at most."""

_ASKING: Final = "reading what it waits for…"


def _cell(text: Text | str) -> Text:
    """One space of gutter before every cell (the tables use no cell padding, as on the runs screen)."""
    cell = Text(" ", no_wrap=True, overflow="ellipsis")
    cell.append_text(text if isinstance(text, Text) else Text(text))
    return cell


def _fit(fixed: list[ColumnSpec], rest: ColumnSpec, width: int) -> list[ColumnSpec]:
    """``fixed`` columns and ``rest`` first, taking what is left of ``width`` (1 cell for the scrollbar)."""
    left = max(rest.width, width - 1 - sum(c.width for c in fixed))
    return [ColumnSpec(rest.key, rest.label, left), *fixed]


def describe_waits(waits: list[WaitView], now: datetime) -> str:
    """What a run is waiting for, from its open waits, e.g. ``a person (human task at root.steps[0]), times out
    in 21h``. Values are untrusted: sanitise the result before showing it."""
    parts = []
    for wait in waits:
        if wait.status != "WAITING":
            continue
        if wait.wait_type == "human":
            what = f"a person (human task at {wait.step_path})"
        elif wait.wait_type == "event":
            what = f"event {wait.event_name or '?'}"
            if wait.key is not None:
                what += f" with key {wait.key}"
        elif wait.wait_type == "time":
            what = f"a timer at {wait.step_path}"
        else:
            what = f"{wait.wait_type} at {wait.step_path}"
        if wait.timeout_at is not None:
            what += f", {'fires' if wait.wait_type == 'time' else 'times out'} {ago(wait.timeout_at, now)}"
        parts.append(what)
    return "; ".join(parts) if parts else "nothing recorded yet"


def _task_row(task: TaskView, now: datetime) -> Row:
    return task.task_id, [
        _cell(safe_text(task.title, single_line=True)),
        _cell(safe_text(task.task_type, single_line=True)),
        _cell(safe_text(short_id(task.run_id), single_line=True)),
        _cell(ago(task.created_at, now)),
    ]


def _run_row(run: RunSummary, now: datetime) -> Row:
    return run.run_id, [
        _cell(safe_text(f"{run.workflow_id}@{run.workflow_version}", single_line=True)),
        _cell(safe_text(short_id(run.run_id), single_line=True)),
        _cell(safe_text(run.trigger, single_line=True)),
        _cell(ago(run.started_at, now)),
        _cell(f"{run.step_count:>5}"),
    ]


class InboxScreen(Screen[None]):
    """Two lists: open human tasks, then waiting runs. Task completion is refused in read-only mode."""

    BINDINGS: ClassVar[list[BindingType]] = [
        # Two bindings for enter: the first one the screen allows is used (and shown in the footer).
        Binding("enter", "respond", "Respond", priority=True),
        Binding("enter", "open_run", "Open run", priority=True),
        Binding("o", "open_run", "Open run", show=False),
        Binding("tab", "switch_list", "Other list"),
        Binding("shift+tab", "switch_list", "Other list", show=False),
        Binding("r", "reload", "Refresh", show=False),
        Binding("escape", "back", "Back"),
    ]

    problem: reactive[str | None] = reactive(None, init=False)
    """Why the last load failed (the lists keep what they had); ``None`` once a load succeeds."""

    class Loaded(Message):
        """The open tasks and the waiting runs (``more``: there were more waiting runs than listed)."""

        def __init__(self, tasks: list[TaskView], waiting: list[RunSummary], more: bool) -> None:
            self.tasks = tasks
            self.waiting = waiting
            self.more = more
            super().__init__()

    class LoadFailed(Message):
        """Loading the inbox failed with ``error``."""

        def __init__(self, error: str) -> None:
            self.error = error
            super().__init__()

    class WaitsLoaded(Message):
        """What ``run_id`` is waiting for, in words, or (``failed``) why that could not be read."""

        def __init__(self, run_id: str, text: str, *, failed: bool = False) -> None:
            self.run_id = run_id
            self.text = text
            self.failed = failed
            super().__init__()

    def __init__(self, services: ServiceContext, *, read_only: bool) -> None:
        super().__init__()
        self.services = services
        self.read_only = read_only
        self._tasks: list[TaskView] = []
        self._waiting: list[RunSummary] = []
        self._more_waiting = False
        self._loaded_once = False
        self._waits: dict[str, str] = {}
        """What each waiting run waits for, by run id, once read (a run keeps its wait while it is listed)."""
        self._refresh = PeriodicLoad(self, self._load, REFRESH_SECONDS)

    def compose(self) -> ComposeResult:
        """Header, the two lists with their titles, the detail line, footer."""
        yield HealthHeader(tenant=self.services.tenant, read_only=self.read_only)
        yield Static(id="tasks-title", classes="inbox-title", markup=False)
        yield KeyedTable(id="tasks-table", cell_padding=0)
        yield Static(id="tasks-empty", classes="inbox-empty", markup=False)
        yield Static(id="waiting-title", classes="inbox-title", markup=False)
        yield KeyedTable(id="waiting-table", cell_padding=0)
        yield Static(id="waiting-empty", classes="inbox-empty", markup=False)
        yield Static(id="inbox-detail", markup=False)
        yield StudioFooter()

    def on_mount(self) -> None:
        """Load now and every ``REFRESH_SECONDS``."""
        for table in self.query(KeyedTable):
            table.display = False
        self._show_titles()
        self.query_one("#tasks-empty", Static).update(Text("Loading…", style="dim"))
        self.query_one("#waiting-empty", Static).update(Text("Loading…", style="dim"))
        self._refresh.start()

    def on_screen_suspend(self, _: events.ScreenSuspend) -> None:
        """No refreshing under a run screen or the response modal."""
        self._refresh.pause()

    def on_screen_resume(self, _: events.ScreenResume) -> None:
        """Catch up at once when the operator comes back."""
        self._refresh.resume(catch_up=self._loaded_once)
        self.refresh_bindings()

    # -- loading (workers) --------------------------------------------------------------------------

    @work(exclusive=True, exit_on_error=False, group="inbox")
    async def _load(self) -> None:
        try:
            tasks = await list_open_tasks(self.services, limit=TASKS_LIMIT)
            waiting = await list_runs(self.services, status="WAITING", limit=WAITING_LIMIT + 1)
        except Exception as exc:
            self.post_message(self.LoadFailed(failure_text(exc, self.services.endpoints)))
            return
        self.post_message(self.Loaded(tasks, waiting[:WAITING_LIMIT], len(waiting) > WAITING_LIMIT))

    @work(exclusive=True, exit_on_error=False, group="inbox-waits")
    async def _load_waits(self, run_id: str) -> None:
        try:
            detail = await get_run_detail(self.services, run_id)
        except Exception as exc:
            error = f"cannot read what it waits for: {failure_text(exc, self.services.endpoints)}"
            self.post_message(self.WaitsLoaded(run_id, error, failed=True))
            return
        self.post_message(self.WaitsLoaded(run_id, describe_waits(detail.waits, self.services.clock())))

    def on_inbox_screen_loaded(self, message: Loaded) -> None:
        """Show both lists, keeping each cursor on the same row."""
        first = not self._loaded_once
        self._loaded_once = True
        self.problem = None
        self._tasks, self._waiting, self._more_waiting = message.tasks, message.waiting, message.more
        listed = {r.run_id for r in self._waiting}
        self._waits = {run_id: text for run_id, text in self._waits.items() if run_id in listed}
        self._render_lists()
        if first:
            tasks, waiting = self.query_one("#tasks-table", KeyedTable), self.query_one("#waiting-table", KeyedTable)
            (tasks if tasks.display or not waiting.display else waiting).focus()
        self.refresh_bindings()
        self._show_detail()

    def on_inbox_screen_load_failed(self, message: LoadFailed) -> None:
        """Say why above the lists; the next refresh tries again."""
        self.problem = message.error

    def on_inbox_screen_waits_loaded(self, message: WaitsLoaded) -> None:
        """Remember what the run waits for and show it if its row is still highlighted (a failure is shown, not
        remembered, so the next refresh asks again)."""
        run = self.highlighted_waiting_run
        if not message.failed:
            self._waits[message.run_id] = message.text
            self._show_detail()
        elif run is not None and run.run_id == message.run_id:
            text = Text.assemble(("waits for ", "dim"))
            text.append_text(safe_text(message.text, single_line=True))
            self.query_one("#inbox-detail", Static).update(text)

    def watch_problem(self) -> None:
        """The first title doubles as the error line."""
        self._show_titles()

    # -- rendering --------------------------------------------------------------------------------

    def _render_lists(self) -> None:
        width = self.size.width
        now = self.services.clock()
        tasks = self.query_one("#tasks-table", KeyedTable)
        task_columns = _fit(
            [ColumnSpec("type", " Type", 16), ColumnSpec("run", " Run", 9), ColumnSpec("age", " Opened", 9)],
            ColumnSpec("title", " Title", 20),
            width,
        )
        tasks.sync(task_columns, [_task_row(t, now) for t in self._tasks])
        waiting = self.query_one("#waiting-table", KeyedTable)
        run_columns = _fit(
            [
                ColumnSpec("run", " Run", 9),
                ColumnSpec("trigger", " Trigger", 9),
                ColumnSpec("started", " Started", 9),
                ColumnSpec("steps", " Steps", 6),
            ],
            ColumnSpec("workflow", " Workflow", 16),
            width,
        )
        waiting.sync(run_columns, [_run_row(r, now) for r in self._waiting])
        for key, table, rows, empty in (
            ("tasks", tasks, self._tasks, "No open tasks."),
            ("waiting", waiting, self._waiting, "No waiting runs."),
        ):
            note = self.query_one(f"#{key}-empty", Static)
            refocus = table.has_focus and not rows
            table.display = bool(rows)
            note.display = not rows
            note.update(Text(empty, style="dim"))
            if refocus:
                self._focus_other(table)
        self._show_titles()

    def _show_titles(self) -> None:
        tasks = Text.assemble(("Open tasks", "bold"))
        waiting = Text.assemble(("Waiting runs", "bold"))
        if self._loaded_once:
            tasks.append(f" · {len(self._tasks)}", style="dim")
            waiting.append(f" · {len(self._waiting)}{'+' if self._more_waiting else ''}", style="dim")
        if self.problem is not None:
            tasks.append("  ⚠ ", style=role_style(self.app.theme_variables, "error", bold=True))
            tasks.append_text(safe_text(self.problem, single_line=True))
        self.query_one("#tasks-title", Static).update(tasks)
        self.query_one("#waiting-title", Static).update(waiting)

    def _show_detail(self) -> None:
        """The line under the lists: the highlighted task's description and run, or what a run waits for."""
        detail = self.query_one("#inbox-detail", Static)
        now = self.services.clock()
        task = self.highlighted_task
        if task is not None:
            text = Text.assemble(("run ", "dim"))
            text.append_text(safe_text(short_id(task.run_id), single_line=True))
            text.append(" · ", style="dim")
            text.append_text(safe_text(f"{task.workflow_id}@{task.workflow_version}", single_line=True))
            text.append(" · ", style="dim")
            text.append_text(safe_text(task.step_path, single_line=True))
            if task.timeout_at is not None:
                text.append(f" · times out {ago(task.timeout_at, now)}", style="dim")
            if task.description:
                text.append("\n")
                text.append_text(safe_text(task.description, single_line=True))
            detail.update(text)
            return
        run = self.highlighted_waiting_run
        if run is not None:
            text = Text.assemble(("waits for ", "dim"))
            waits = self._waits.get(run.run_id)
            if waits is None:
                text.append(_ASKING, style="dim")
                self._load_waits(run.run_id)
            else:
                text.append_text(safe_text(waits, single_line=True))
            detail.update(text)
            return
        detail.update(Text())

    def on_resize(self) -> None:
        """The first column of each list follows the width."""
        if self._loaded_once:
            self._render_lists()

    # -- state ------------------------------------------------------------------------------------

    @property
    def highlighted_task(self) -> TaskView | None:
        """The task under the cursor, while the tasks list has the focus."""
        table = self.query_one("#tasks-table", KeyedTable)
        if not table.has_focus:
            return None
        key = table.highlighted_key
        return next((t for t in self._tasks if t.task_id == key), None)

    @property
    def highlighted_waiting_run(self) -> RunSummary | None:
        """The waiting run under the cursor, while the waiting list has the focus."""
        table = self.query_one("#waiting-table", KeyedTable)
        if not table.has_focus:
            return None
        key = table.highlighted_key
        return next((r for r in self._waiting if r.run_id == key), None)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Respond only to a highlighted task, never in read-only mode; enter opens a run otherwise."""
        if action == "respond":
            return not self.read_only and self.is_mounted and self.highlighted_task is not None
        return True

    # -- actions and events -----------------------------------------------------------------------

    def on_data_table_row_highlighted(self, _: DataTable.RowHighlighted) -> None:
        """The detail line, and the footer's enter, follow the cursor."""
        # Whether enter responds depends on a task being highlighted, which the first rows of a list (or a
        # list emptied by a completion) change without any focus change.
        self.refresh_bindings()
        self._show_detail()

    def on_descendant_focus(self, _: events.DescendantFocus) -> None:
        """The footer's enter and the detail line follow the list that has the focus."""
        self.refresh_bindings()
        self._show_detail()

    def action_respond(self) -> None:
        """Answer the highlighted task in the response modal."""
        task = self.highlighted_task
        if task is None or self.read_only:
            return
        self.app.push_screen(TaskResponseModal(self.services, task), self._responded)

    def _responded(self, completed: bool | None) -> None:
        if completed:
            self.notify("Task completed", markup=False)
            self._load()

    def action_open_run(self) -> None:
        """Open the run of the highlighted task or waiting run."""
        task = self.highlighted_task
        run = self.highlighted_waiting_run
        run_id = task.run_id if task is not None else run.run_id if run is not None else None
        if run_id is not None:
            self.post_message(OpenRun(run_id))

    def action_switch_list(self) -> None:
        """Move between the tasks and the waiting runs."""
        tasks = self.query_one("#tasks-table", KeyedTable)
        self._focus_other(tasks if tasks.has_focus else self.query_one("#waiting-table", KeyedTable))

    def _focus_other(self, table: KeyedTable) -> None:
        other = self.query_one("#waiting-table" if table.id == "tasks-table" else "#tasks-table", KeyedTable)
        if other.display:
            other.focus()

    def action_reload(self) -> None:
        """Refresh now."""
        self._load()

    def action_back(self) -> None:
        """Back to the runs."""
        self.app.pop_screen()
