"""The runs screen: a live, keyset-paged table of runs with status filters, search, marks and bulk cancel."""

import asyncio
import re
import time
from dataclasses import replace
from datetime import datetime
from typing import ClassVar, Final, Literal

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Input, Static
from textual.worker import Worker

from engine.services.cancel import CANCELABLE, CancelOutcome
from engine.services.context import ServiceContext
from engine.services.runs import COUNT_CAP, RunSummary, count_runs, list_runs
from engine.services.runs import cursor_of as cursor_of
from studio_tui.failures import failure_text
from studio_tui.format import (
    RUN_STATUSES,
    ago,
    duration,
    elapsed,
    role_style,
    short_id,
    status_text,
    why_text,
)
from studio_tui.messages import OpenRun
from studio_tui.run_query import CommandError, RunQuery, apply_command, describe
from studio_tui.sanitize import safe_text
from studio_tui.screens.bulk_cancel import (
    BulkCancelScreen,
    BulkSelection,
    describe_filter,
    for_filter,
    for_marked,
    totals,
)
from studio_tui.screens.run_diff import RunDiffScreen
from studio_tui.steady import same_cells, show_text
from studio_tui.widgets.cancel_banner import CANCEL_PENDING_MARK, cancel_pending
from studio_tui.widgets.command_line import CommandLine
from studio_tui.widgets.health_header import HealthHeader
from studio_tui.widgets.keyed_table import ColumnSpec, KeyedTable, Row
from studio_tui.widgets.new_runs_marker import NewRunsMarker
from studio_tui.widgets.studio_footer import SteadyFooter

PAGE_SIZE: Final = 200
"""Runs fetched per keyset page."""
WINDOW_ROWS: Final = 3 * PAGE_SIZE
"""The most rows held (runs and table rows): a window around the cursor. Scrolling on reads the next page and
drops the rows farthest behind; scrolling back reads them again by keyset. Memory stays flat however far the
operator scrolls through a million runs."""
PREFETCH_ROWS: Final = PAGE_SIZE // 2
"""Fetch the next page (or the one before the window) once the cursor is this close to the window's edge: a
few page-downs ahead, so a page-down never waits for SQL."""
REFRESH_SECONDS: Final = 2.0
SEARCH_DEBOUNCE_SECONDS: Final = 0.03
"""Wait this long after a key before searching: a keystroke that follows cancels the query, and a search
answers in a few ms, so the pause only has to cover keys that arrive together (a paste, several keys in one
read of the terminal); keys a person types are further apart than this, and every ms of it is paid after the
last key (goal: rows ≤ 100 ms after it)."""
VISIBLE_MARGIN: Final = 5
"""Rows above and below the screen re-read and re-drawn with the visible ones (a small scroll finds them fresh)."""
FLASH_SECONDS: Final = 3.0
"""How long a row whose status changed stays highlighted."""
SELECT_PAGE: Final = 1000
"""Runs read per page when a bulk cancel takes every run the filter matches."""

STATUS_KEYS: Final[tuple[tuple[str, str | None], ...]] = (
    ("1", None),
    *((str(n), status) for n, status in enumerate(RUN_STATUSES, start=2)),
)
"""Keys 1–6: all runs, then one status each, in ``RUN_STATUSES`` order."""

_RUN_ID_PREFIX = re.compile(r"[0-9a-fA-F-]+")
WORKFLOW_PREFIX: Final = "wf:"

MARK: Final = "▣"
"""The mark column's symbol for a run marked for a bulk cancel."""
MUTATING_ACTIONS: Final = frozenset({"toggle_mark", "unmark_all", "bulk_cancel"})
"""Actions hidden and refused in read-only mode."""

Cursor = tuple[object, ...]
"""A keyset position of a run in the list's sort order (``cursor_of``)."""


def parse_search(text: str) -> tuple[str | None, str | None]:
    """(workflow-id prefix, run-id prefix) for the search box.

    Text made only of hex digits and dashes is the start of a run id; anything else is the start of a
    workflow id, in any case (``TIME`` finds ``timer``). ``wf:ID`` forces a workflow id, for ids such as
    ``cafe`` that look like hex.
    """
    text = text.strip()
    if not text:
        return None, None
    if text.startswith(WORKFLOW_PREFIX):
        return text[len(WORKFLOW_PREFIX) :].strip() or None, None
    if _RUN_ID_PREFIX.fullmatch(text):
        return None, text.lower()
    return text, None


def _cell(text: Text | str) -> Text:
    """One space of gutter before every cell: the table uses no cell padding so eight columns fit 80 cells."""
    cell = Text(" ", no_wrap=True, overflow="ellipsis")
    cell.append_text(text if isinstance(text, Text) else Text(text))
    return cell


class RunsScreen(Screen[None]):
    """Runs, newest first. Enter opens one; 1–6 filter by status; ``/`` searches; ``:`` takes a command
    (``:since 1h``, ``:stuck``, ``:sort duration``…); the list refreshes itself.

    On the first row the list stays at the top as runs arrive; further down the cursor stays on its run and
    "↑ N new" counts what arrived above (``t`` goes to the top). Rows whose status changed flash briefly.
    Space marks runs and ``X`` cancels the marked runs, or without marks every run the filter matches.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        # A priority binding, so the footer shows it while the table (which binds enter itself) has focus.
        Binding("enter", "open_run", "Open", priority=True),
        Binding("slash", "focus_search", "Search"),
        Binding("colon", "command_line", "Cmd", key_display=":"),
        # ␣ rather than "space": the footer must fit 80 columns.
        Binding("space", "toggle_mark", "Mark", key_display="␣"),
        Binding("X", "bulk_cancel", "Bulk cancel", key_display="X"),
        Binding("i", "app.open_inbox", "Inbox"),
        Binding("t", "to_top", "Top", show=False),
        Binding("r", "reload", "Refresh", show=False),
        Binding("u", "unmark_all", "Unmark all", show=False),
        Binding("d", "diff", "Diff two marked runs, or a replay with its original", show=False),  # issue 14
        Binding("escape", "clear_search", "Clear search", show=False),
        *(
            Binding(key, f"filter({status!r})", (status or "all").capitalize(), show=False)
            for key, status in STATUS_KEYS
        ),
    ]

    class Loaded(Message):
        """A page of runs arrived for ``query``: the first page, the page after ``after`` ("more"), the page before
        ``after`` ("before": ``after`` is then the window's first row), the last page of the list ("end"), or a
        refresh (``asked`` rows from the top, plus the rows on screen below them: ``visible`` is what is left of
        ``visible_ids`` under the filter); ``count`` is how many match (capped), when it was read."""

        def __init__(
            self,
            query: RunQuery,
            runs: list[RunSummary],
            mode: Literal["first", "more", "before", "end", "refresh"],
            asked: int,
            after: Cursor | None = None,
            count: int | None = None,
            visible_ids: list[str] | None = None,
            visible: list[RunSummary] | None = None,
        ) -> None:
            self.query = query
            self.runs = runs
            self.mode = mode
            self.asked = asked
            self.after = after
            self.count = count
            self.visible_ids = visible_ids or []
            self.visible = visible or []
            super().__init__()

    class Counted(Message):
        """How many runs match ``query`` (capped), read after its first page was shown."""

        def __init__(self, query: RunQuery, count: int) -> None:
            self.query = query
            self.count = count
            super().__init__()

    class LoadFailed(Message):
        """Loading runs for ``query`` failed with ``error``."""

        def __init__(self, query: RunQuery, error: str) -> None:
            self.query = query
            self.error = error
            super().__init__()

    class BulkSelected(Message):
        """The runs a bulk cancel of ``query``'s filter would cancel (``run_ids`` may be empty)."""

        def __init__(self, query: RunQuery, run_ids: list[str]) -> None:
            self.query = query
            self.run_ids = run_ids
            super().__init__()

    class BulkSelectFailed(Message):
        """Finding the runs matching ``query`` failed with ``error``."""

        def __init__(self, query: RunQuery, error: str) -> None:
            self.query = query
            self.error = error
            super().__init__()

    # ``repaint=False`` on every reactive of the screen: its watchers update the widgets that change, and a screen
    # repaint would redraw every cell of the whole screen (a full frame) on each filter key and search keystroke.
    status_filter: reactive[str | None] = reactive(None, init=False, repaint=False)
    """Only runs in this status (``None``: every status)."""
    search: reactive[str] = reactive("", init=False, repaint=False)
    """The search box's text: a run-id prefix or a workflow-id prefix (see ``parse_search``)."""
    extra: reactive[RunQuery] = reactive(RunQuery, init=False, repaint=False)
    """What ``:`` commands set beyond status and search: time range, stuck, trigger, sort."""
    problem: reactive[str | None] = reactive(None, init=False, repaint=False)
    """Why the last load failed (the table keeps what it had); ``None`` once a load succeeds."""

    def __init__(self, services: ServiceContext, *, read_only: bool) -> None:
        super().__init__()
        self.services = services
        self.read_only = read_only
        self._runs: list[RunSummary] = []
        """The window: at most ``WINDOW_ROWS`` consecutive runs of the list, around the cursor."""
        self._exhausted = False
        """The window reaches the end of the list (nothing below its last row)."""
        self._cut_above = False
        """Runs of the list lie above the window's first row (dropped behind the cursor, or never read after End)."""
        self._skipped: int | None = 0
        """How many runs of the list lie above the window (``None``: unknown, after End)."""
        self._top_seen: set[str] = set()
        """The top page's runs as last read: while the window is cut above, runs new to it are "↑ N new"."""
        self._loaded_once = False
        self._count: int | None = None
        self._timer: Timer | None = None
        self._marked: dict[str, RunSummary] = {}
        """Runs marked for a bulk cancel, by id (kept across filters and refreshes, until a bulk cancel)."""
        self._new_above: set[str] = set()
        """Runs that arrived above the cursor since the operator last saw the top."""
        self._flash_until: dict[str, float] = {}
        """Runs whose status changed at the last refreshes, until when (monotonic) they stay highlighted."""
        self._shown_query: RunQuery | None = None
        """The query of the rows the table shows."""
        self._open_when_loaded = False
        """Enter was pressed in the search box before its results arrived: open the first one when they do."""
        self._drawn: dict[str, tuple[tuple[RunSummary, bool, bool] | None, Row, float]] = {}
        """Each row's cells as last drawn, with what they were drawn from (run, marked, flashing) and when
        (monotonic): a row is drawn again only when that changed or it is on screen (its "ago" and "took"
        follow the clock). ``None``: blank, not drawn yet (far from the screen)."""
        self._drawn_columns: tuple[tuple[str, int], ...] = ()
        self._blank: tuple[Text, ...] = ()
        """The cells of a row not drawn yet (shared: cells are never changed in place)."""
        self._viewport_pending = False
        self._edge_read: tuple[tuple[str, RunQuery, Cursor], Worker[None]] | None = None
        """The page last asked for past an edge of the window (which edge, query and keyset), and its worker."""
        self._owed_rows = 0
        """Rows page keys asked to move past the window's edge while the list goes on that way (down if
        positive): the cursor moves on by them when the page that way arrives."""

    def compose(self) -> ComposeResult:
        """Header, filter bar, search box, the table, command line, footer."""
        yield HealthHeader(tenant=self.services.tenant, read_only=self.read_only)
        with Horizontal(id="filter-bar"):
            yield Static(id="status-filters", markup=False)
            yield Static(id="runs-count", markup=False)
        # Its own line under the filter bar: a long outage sentence wraps here instead of squeezing the filters.
        yield Static(id="runs-problem", markup=False)
        with Horizontal(id="search-bar"):
            yield Static("/", id="search-label", markup=False)
            yield Input(placeholder="search: run-id prefix, or workflow id prefix (wf:ID)", id="search")
            yield Static(id="runs-query", markup=False)
        yield NewRunsMarker(id="new-runs")
        table = KeyedTable(id="runs-table", cell_padding=0)
        table.windowed = True  # Home and End go to the first and the oldest run of the whole list
        yield table
        yield Static(id="runs-empty", markup=False)
        yield CommandLine(id="command")
        yield SteadyFooter()  # keeps Help and Quit at 80 columns (issue 13)

    def on_mount(self) -> None:
        """Load the first page and start refreshing."""
        self._show_filters()
        self._show_count()
        self._show_problem()
        self.query_one(KeyedTable).focus()
        self._load_first()
        self._timer = self.set_interval(REFRESH_SECONDS, self._refresh_window)

    def _compositor_refresh(self) -> None:
        # Textual treats the screen under the top one as possibly visible and, when anything here changes (a count
        # arriving, a footer rebuilt on push), repaints that region of the top screen and then the whole top screen:
        # a full frame of a run screen that covers this one entirely. Under an opaque screen nothing here shows, so
        # nothing is passed up; when this screen is on top again it is drawn in full (``ScreenResume``).
        top = self.app.screen
        if top is not self and not top.is_modal and top.styles.background.a == 1:
            self._compositor._dirty_regions.clear()
            self._dirty_widgets.clear()
            return
        super()._compositor_refresh()

    def on_screen_suspend(self, _: events.ScreenSuspend) -> None:
        """Stop refreshing while another screen is on top."""
        if self._timer is not None:
            self._timer.pause()

    def on_screen_resume(self, _: events.ScreenResume) -> None:
        """Catch up at once when the operator comes back, then keep refreshing."""
        if self._timer is not None and self._loaded_once:
            self._refresh_window()
            self._timer.resume()

    # -- state ------------------------------------------------------------------------------------

    @property
    def query_filters(self) -> RunQuery:
        """The filters now in force."""
        workflow_prefix, prefix = parse_search(self.search)
        return replace(self.extra, status=self.status_filter, workflow_prefix=workflow_prefix, run_id_prefix=prefix)

    @property
    def highlighted_run_id(self) -> str | None:
        """The run under the cursor."""
        return self.query_one(KeyedTable).highlighted_key

    @property
    def marked_run_ids(self) -> list[str]:
        """The marked runs, in the order they were marked."""
        return list(self._marked)

    @property
    def rows_held(self) -> int:
        """How many runs the window holds (never more than ``WINDOW_ROWS``)."""
        return len(self._runs)

    @property
    def list_position(self) -> int | None:
        """The cursor's row in the whole list (``None`` when the window's place is unknown, after End)."""
        if self._skipped is None:
            return None
        return self._skipped + self.query_one(KeyedTable).cursor_row

    @property
    def new_above(self) -> int:
        """How many runs arrived above the cursor since the operator last saw the top."""
        return len(self._new_above)

    @property
    def flashing(self) -> set[str]:
        """Runs highlighted because their status just changed."""
        now = time.monotonic()
        return {run_id for run_id, until in self._flash_until.items() if until > now}

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Marks and bulk cancel do not exist in read-only mode (hidden from the footer and refused)."""
        return not (self.read_only and action in MUTATING_ACTIONS)

    def watch_status_filter(self) -> None:
        """A new status filter starts from the top again."""
        self._show_filters()
        self._load_first()

    def watch_search(self) -> None:
        """Search as the operator types (debounced in the worker)."""
        self._load_first(debounce=SEARCH_DEBOUNCE_SECONDS)

    def watch_extra(self) -> None:
        """A command changed the filters or the order: start from the top again."""
        self._show_query()
        self._load_first()

    def watch_problem(self) -> None:
        """Show why the last load failed on the problem line (hidden while loads succeed)."""
        self._show_problem()

    # -- loading (workers) --------------------------------------------------------------------------

    @work(exclusive=True, exit_on_error=False, group="runs-first")
    async def _load_first(self, debounce: float = 0.0) -> None:
        query = self.query_filters
        if debounce:
            await asyncio.sleep(debounce)  # a newer keystroke cancels this worker before it queries
        try:
            runs = await self._fetch(query, after=None, limit=PAGE_SIZE)
        except Exception as exc:
            self.post_message(self.LoadFailed(query, failure_text(exc, self.services.endpoints)))
            return
        if len(runs) < PAGE_SIZE:  # a short page is every match, as it is now: nothing to count
            self.post_message(self.Loaded(query, runs, "first", PAGE_SIZE, count=len(runs)))
            return
        # The rows go up at once; the count follows in its own worker (the count line says "≥ N" meanwhile), so
        # the rows never wait for a count over thousands of runs.
        self.post_message(self.Loaded(query, runs, "first", PAGE_SIZE))
        self._count_first(query)

    @work(exclusive=True, exit_on_error=False, group="runs-count")
    async def _count_first(self, query: RunQuery) -> None:
        try:
            total = await count_runs(self.services, **query.list_kwargs())
        except Exception:  # the count line keeps saying "≥ N runs"; the next refresh counts again
            return
        self.post_message(self.Counted(query, total))

    @work(exclusive=True, exit_on_error=False, group="runs-more")
    async def _load_more(self) -> None:
        if not self._runs:
            return
        query = self.query_filters
        after = cursor_of(self._runs[-1], query.sort)
        try:
            runs = await self._fetch(query, after=after, limit=PAGE_SIZE)
        except Exception as exc:
            self.post_message(self.LoadFailed(query, failure_text(exc, self.services.endpoints)))
            return
        self.post_message(self.Loaded(query, runs, "more", PAGE_SIZE, after))

    @work(exclusive=True, exit_on_error=False, group="runs-more")
    async def _load_before(self) -> None:
        """The page before the window's first row (dropped when the window moved down), read by keyset."""
        if not self._runs:
            return
        query = self.query_filters
        first = cursor_of(self._runs[0], query.sort)
        try:
            runs = await list_runs(self.services, **query.list_kwargs(), sort=query.sort, before=first, limit=PAGE_SIZE)
        except Exception as exc:
            self.post_message(self.LoadFailed(query, failure_text(exc, self.services.endpoints)))
            return
        self.post_message(self.Loaded(query, runs, "before", PAGE_SIZE, first))

    @work(exclusive=True, exit_on_error=False, group="runs-first")
    async def _load_end(self) -> None:
        """The last page of the list (End: the oldest runs), read from the other end of the index."""
        query = self.query_filters
        try:
            runs = await list_runs(
                self.services, **query.list_kwargs(), sort=query.sort, from_end=True, limit=PAGE_SIZE
            )
        except Exception as exc:
            self.post_message(self.LoadFailed(query, failure_text(exc, self.services.endpoints)))
            return
        self.post_message(self.Loaded(query, runs, "end", PAGE_SIZE))

    @work(exclusive=True, exit_on_error=False, group="runs-refresh")
    async def _refresh_window(self) -> None:
        # The top page (where new runs arrive, and what the count starts from) and the rows on screen below it,
        # by id: never the whole window scrolled through, which grew with every page and was re-read every 2 s.
        query = self.query_filters
        asked = PAGE_SIZE
        on_screen = self._visible_ids()
        try:
            runs = await self._fetch(query, after=None, limit=asked)
            top = {run.run_id for run in runs}
            wanted = [run_id for run_id in on_screen if run_id not in top]
            visible = await self._fetch_ids(query, wanted) if wanted else []
            count = await self._count_matching(query, runs, asked)
        except Exception as exc:
            self.post_message(self.LoadFailed(query, failure_text(exc, self.services.endpoints)))
            return
        self.post_message(self.Loaded(query, runs, "refresh", asked, count=count, visible_ids=wanted, visible=visible))

    async def _fetch_ids(self, query: RunQuery, run_ids: list[str]) -> list[RunSummary]:
        """The runs among ``run_ids`` that still match ``query``, as they are now."""
        return await list_runs(
            self.services, **query.list_kwargs(), sort=query.sort, run_ids=run_ids, limit=len(run_ids)
        )

    def _visible_ids(self) -> list[str]:
        """The runs on screen, and a few rows either side."""
        table = self.query_one(KeyedTable)
        first = max(0, int(table.scroll_y) - VISIBLE_MARGIN)
        return [run.run_id for run in self._runs[first : first + max(1, table.size.height) + 2 * VISIBLE_MARGIN]]

    async def _fetch(self, query: RunQuery, *, after: Cursor | None, limit: int) -> list[RunSummary]:
        return await list_runs(self.services, **query.list_kwargs(), sort=query.sort, after=after, limit=limit)

    async def _count_matching(self, query: RunQuery, runs: list[RunSummary], asked: int) -> int:
        """How many runs match: the page itself when it is all of them, else a capped count query."""
        if len(runs) < asked:
            return len(runs)
        return await count_runs(self.services, **query.list_kwargs())

    def on_runs_screen_loaded(self, message: Loaded) -> None:
        """Merge a page into the list, unless it answers an older query or an older end of the list."""
        if message.query != self.query_filters:
            return
        self.problem = None
        complete = len(message.runs) < message.asked
        table = self.query_one(KeyedTable)
        at_top = table.cursor_row == 0 and not self._cut_above
        before = {r.run_id: r.status for r in self._runs}
        first_before = self._runs[0].run_id if self._runs else None
        if message.mode == "more":
            if not self._runs or message.after != cursor_of(self._runs[-1], message.query.sort):
                # The list changed while this page was on its way; ask again from the current end.
                self._maybe_load_more()
                return
            self._runs.extend(message.runs)
            self._exhausted = complete
        elif message.mode == "before":
            if not self._runs or message.after != cursor_of(self._runs[0], message.query.sort):
                self._maybe_load_more()
                return
            self._runs[:0] = message.runs
            self._cut_above = not complete
            if complete or self._skipped is None:
                self._skipped = 0 if complete else None
            else:
                self._skipped = max(0, self._skipped - len(message.runs))
        elif message.mode == "end":
            self._runs = list(message.runs)
            self._exhausted = True
            self._cut_above = not complete
            self._skipped = 0 if complete else None
        elif message.mode == "refresh" and self._cut_above:
            # The window is far down the list: the top page only tells what is new up there; the rows on screen
            # were re-read by id.
            self._runs = self._with_visible(self._runs, message)
        elif message.mode == "refresh" and not complete:
            # The window is full: rows loaded below it (a page that arrived meanwhile) stay.
            self._runs = self._with_visible([*message.runs, *self._below(message.runs)], message)
        else:
            self._runs = list(message.runs)
            self._exhausted = complete
            self._cut_above = False
            self._skipped = 0
        self._trim_window()
        if message.count is not None:
            self._count = message.count
        elif message.mode == "first":
            self._count = None  # another query's count is not this one's: "≥ N" until ``Counted`` says
        self._shown_query = message.query
        first_load = not self._loaded_once
        self._loaded_once = True
        for run in message.runs:
            if run.run_id in self._marked:
                self._marked[run.run_id] = run  # the confirmation lists marked runs as they are now
        if message.mode == "refresh" and not first_load:
            self._note_changes(before, at_top, top=[r.run_id for r in message.runs])
        elif message.mode == "first":
            self._new_above.clear()
            self._flash_until.clear()
        if message.mode in ("first", "refresh"):
            self._top_seen = {r.run_id for r in message.runs}
        self._render_rows(
            to_top=message.mode == "first" or (message.mode == "refresh" and at_top), to_end=message.mode == "end"
        )
        if message.mode == "end" and self._runs:
            table.move_cursor(row=len(self._runs) - 1, scroll=False)
            # After the table's own "keep the row where it was on screen" scroll, which is queued first.
            table.call_after_refresh(table.scroll_end, animate=False)
        if message.mode in ("first", "end"):
            self._owed_rows = 0  # a new place in the list: page keys pressed before it are spent
        elif (message.mode == "more" and self._owed_rows > 0) or (message.mode == "before" and self._owed_rows < 0):
            if message.mode == "more" and self._runs[0].run_id == first_before:
                self._pay_owed_rows()  # rows were appended: the rows above, and so the cursor's index, stay
            else:
                # The table was rebuilt: after its own "keep the row where it was on screen" scroll, queued first.
                table.call_after_refresh(self._pay_owed_rows)
        self._maybe_load_more()
        if message.mode == "first" and self._open_when_loaded:
            self._open_when_loaded = False
            self._open_first_match()

    def on_runs_screen_counted(self, message: Counted) -> None:
        """The count of the query shown, unless the query changed or a refresh counted since."""
        if message.query == self.query_filters == self._shown_query and self._count is None:
            self._count = message.count
            self._show_count()

    @staticmethod
    def _with_visible(runs: list[RunSummary], message: Loaded) -> list[RunSummary]:
        """``runs`` with the rows re-read on screen as they are now; those that no longer match leave the list."""
        if not message.visible_ids:
            return runs
        fresh = {run.run_id: run for run in message.visible}
        gone = set(message.visible_ids) - fresh.keys() - {run.run_id for run in message.runs}
        return [fresh.get(run.run_id, run) for run in runs if run.run_id not in gone]

    def _below(self, window: list[RunSummary]) -> list[RunSummary]:
        """Loaded rows after the refreshed window's last row (none if that row is new to the list)."""
        ids = [r.run_id for r in self._runs]
        last = window[-1].run_id
        if last not in ids:
            self._exhausted = False
            return []
        seen = {r.run_id for r in window}
        return [r for r in self._runs[ids.index(last) + 1 :] if r.run_id not in seen]

    def _trim_window(self) -> None:
        """Drop the rows farthest from the cursor once the window holds more than ``WINDOW_ROWS``: behind it
        when it is in the lower half (they are read again by keyset when the operator scrolls back), ahead of it
        otherwise (the next page is read again when the cursor nears the end)."""
        extra = len(self._runs) - WINDOW_ROWS
        if extra <= 0:
            return
        keep = self.highlighted_run_id
        ids = [r.run_id for r in self._runs]
        cursor = ids.index(keep) if keep in ids else 0
        if cursor >= len(ids) // 2:
            del self._runs[:extra]
            self._cut_above = True
            self._skipped = None if self._skipped is None else self._skipped + extra
        else:
            del self._runs[-extra:]
            self._exhausted = False

    def _note_changes(self, before: dict[str, str], at_top: bool, top: list[str]) -> None:
        """Flash rows whose status changed; count runs that arrived above a cursor that is not at the top."""
        now = time.monotonic()
        changed = [r.run_id for r in self._runs if r.run_id in before and before[r.run_id] != r.status]
        for run_id in changed:
            self._flash_until[run_id] = now + FLASH_SECONDS
        if changed:
            self.set_timer(FLASH_SECONDS + 0.05, self._end_flash)
        if at_top:
            self._new_above.clear()
            return
        if self._cut_above:
            # The top of the list is not held: what is new there is what the last top page did not have.
            self._new_above |= {run_id for run_id in top if self._top_seen and run_id not in self._top_seen}
            return
        keep = self.highlighted_run_id
        ids = [r.run_id for r in self._runs]
        cursor = ids.index(keep) if keep in ids else len(ids)
        self._new_above |= {run_id for run_id in ids[:cursor] if run_id not in before}
        self._new_above &= set(ids[:cursor])

    def _end_flash(self) -> None:
        now = time.monotonic()
        self._flash_until = {k: v for k, v in self._flash_until.items() if v > now}
        if self._loaded_once:
            self._render_rows()

    def on_runs_screen_load_failed(self, message: LoadFailed) -> None:
        """Say why, keep the rows we have; the next refresh tries again."""
        if message.query == self.query_filters:
            self.problem = message.error

    # -- rendering --------------------------------------------------------------------------------

    def _columns(self) -> list[ColumnSpec]:
        width = self.size.width
        marks = [] if self.read_only else [ColumnSpec("mark", "", 2)]
        fixed = [
            *marks,
            ColumnSpec("status", " Status", 12),
            ColumnSpec("workflow", " Workflow", 0),
            ColumnSpec("why", " Why", 0),
            ColumnSpec("run", " Run", 9),
            # Narrow terminals keep the why and drop what the run screen shows anyway.
            *([ColumnSpec("trigger", " Trigger", 9)] if width >= 100 else []),
            ColumnSpec("started", " Started", 9),
            ColumnSpec("took", " Took", 7),
            *([ColumnSpec("steps", " Steps", 6)] if width >= 110 else []),
        ]
        # Workflow and why share what is left of the width (1 cell goes to the scrollbar).
        rest = max(28, width - 1 - sum(c.width for c in fixed))
        workflow = max(12, min(32, rest * 2 // 5))
        flex = {"workflow": workflow, "why": rest - workflow}
        return [ColumnSpec(c.key, c.label, flex[c.key]) if c.key in flex else c for c in fixed]

    def _row(self, run: RunSummary, now: datetime, keys: list[str], flashing: set[str]) -> Row:
        variables = self.app.theme_variables
        workflow = safe_text(f"{run.workflow_id}@{run.workflow_version}", single_line=True)
        status = self._status(run)
        if run.run_id in flashing:
            status.stylize("reverse")
        cells = {
            "mark": self._mark_text(run.run_id),
            "status": status,
            "workflow": workflow,
            "why": why_text(run, now, variables, workers=self.app_workers()),
            "run": safe_text(short_id(run.run_id), single_line=True),
            "trigger": safe_text(run.trigger, single_line=True),
            "started": Text(ago(run.started_at, now)),
            "took": Text(duration(elapsed(run.started_at, run.completed_at, now))),
            "steps": Text(f"{run.step_count:>5}"),
        }
        return run.run_id, [_cell(cells[key]) for key in keys]

    def app_workers(self) -> int | None:
        """Workers polling the queue as the header last saw them (``None``: unknown)."""
        health = getattr(self.app, "health", None)
        workers = getattr(health, "workers", None)
        return workers if isinstance(workers, int) else None

    def _status(self, run: RunSummary) -> Text:
        """The status, with a marker after it while a cancel Temporal accepted waits for a worker."""
        text = status_text(run.status, self.app.theme_variables)
        if cancel_pending(run.status, run.cancel_requested_at):
            text.append(f" {CANCEL_PENDING_MARK}", style=role_style(self.app.theme_variables, "warning", bold=True))
        return text

    def _mark_text(self, run_id: str) -> Text:
        if run_id not in self._marked:
            return Text(" ")
        return Text(MARK, style=role_style(self.app.theme_variables, "accent", bold=True))

    def _near_ids(self, cursor: int | None) -> set[str]:
        """The runs a page-up or page-down can bring on screen: a screen either side of the cursor's row (at
        ``cursor``, or where the table's cursor is) and of the rows on screen now."""
        table = self.query_one(KeyedTable)
        height = max(1, table.size.height)
        if cursor is None:
            keep = table.highlighted_key
            cursor = next((n for n, run in enumerate(self._runs) if run.run_id == keep), 0)
        top = int(table.scroll_y)
        spans = ((cursor - 2 * height, cursor + 2 * height), (top - height, top + 2 * height))
        return {run.run_id for first, last in spans for run in self._runs[max(0, first) : max(0, last + 1)]}

    def _sync_table(self, *, scrolled: bool = False, cursor: int | None = None) -> None:
        """Hand the table every row, drawing again only the rows that changed or are on screen.

        After a scroll (``scrolled``), rows on screen are drawn again only if they were drawn a while ago. Rows
        farther than a page from the screen and never drawn get blank cells: a page of rows read ahead costs
        storing them, and each is drawn as it nears the screen (``cursor``: the row the cursor is going to)."""
        table = self.query_one(KeyedTable)
        now = self.services.clock()
        columns = self._columns()
        keys = [c.key for c in columns]
        shape = tuple((c.key, c.width) for c in columns)
        if shape != self._drawn_columns:
            self._drawn.clear()
            self._drawn_columns = shape
            self._blank = tuple(Text() for _ in columns)
        flashing = self.flashing
        on_screen = set(self._visible_ids())
        near = self._near_ids(cursor)
        stale = time.monotonic() - REFRESH_SECONDS / 2
        drawn: dict[str, tuple[tuple[RunSummary, bool, bool] | None, Row, float]] = {}
        rows: list[Row] = []
        changed: set[str] = set()
        for run in self._runs:
            before = self._drawn.get(run.run_id)
            if run.run_id not in near and (before is None or before[0] is None):
                blank = before or (None, (run.run_id, self._blank), 0.0)
                if before is None:
                    changed.add(run.run_id)
                drawn[run.run_id] = blank
                rows.append(blank[1])
                continue
            state = (run, run.run_id in self._marked, run.run_id in flashing)
            if (
                before is None
                or before[0] != state
                or (run.run_id in on_screen and (not scrolled or before[2] < stale))
            ):
                row = self._row(run, now, keys, flashing)
                if before is None or not same_cells(before[1][1], row[1]):
                    changed.add(run.run_id)  # a row on screen whose times read the same is left as drawn
                drawn[run.run_id] = (state, row, time.monotonic())
            else:
                row = before[1]
                drawn[run.run_id] = before
            rows.append(row)
        self._drawn = drawn
        table.sync(columns, rows, changed=changed)

    def on_keyed_table_viewport_moved(self, _: KeyedTable.ViewportMoved) -> None:
        """Rows scrolled into view are drawn again (once per frame): their times were drawn off screen."""
        if self._loaded_once and not self._viewport_pending:
            self._viewport_pending = True
            self.call_after_refresh(self._draw_viewport)

    def _draw_viewport(self) -> None:
        self._viewport_pending = False
        self._sync_table(scrolled=True)

    def _render_rows(self, *, to_top: bool = False, to_end: bool = False) -> None:
        table = self.query_one(KeyedTable)
        self._sync_table(cursor=0 if to_top else len(self._runs) - 1 if to_end else None)
        if to_top and self._runs:
            table.move_cursor(row=0)
            # After the table's own "keep the row where it was on screen" scroll, which is queued first.
            table.call_after_refresh(table.scroll_to, y=0, animate=False)
            self._new_above.clear()
        empty = self.query_one("#runs-empty", Static)
        empty.display = not self._runs
        was_hidden = not table.display
        table.display = bool(self._runs)
        if was_hidden and table.display and self.focused is None:
            # Hiding the empty table took its focus; the first runs to arrive get it back, or no key would move.
            table.focus()
        show_text(empty, Text("No runs match." if self._loaded_once else "Loading runs…", style="dim"))
        self._show_count()
        self.query_one(NewRunsMarker).show_count(len(self._new_above))

    def on_resize(self) -> None:
        """The workflow and why columns follow the width."""
        if self._loaded_once:
            self._render_rows()

    def _show_problem(self) -> None:
        line = self.query_one("#runs-problem", Static)
        line.display = self.problem is not None
        if self.problem is None:
            return
        text = Text("⚠ ", style=role_style(self.app.theme_variables, "error", bold=True))
        sentence = safe_text(self.problem, single_line=True)
        sentence.no_wrap, sentence.overflow = False, "fold"  # the whole sentence, wrapped, names the fix
        line.update(text.append_text(sentence))

    def _show_filters(self) -> None:
        text = Text()
        for key, status in STATUS_KEYS:
            label = (status or "all").capitalize()
            active = status == self.status_filter
            text.append(f" {key}", style="bold")
            text.append(f" {label}", style="reverse bold" if active else "")
        self.query_one("#status-filters", Static).update(text)

    def _show_query(self) -> None:
        """The command filters in force, after the search box (``:clear`` removes them)."""
        parts = describe(self.extra)
        line = self.query_one("#runs-query", Static)
        line.display = bool(parts)
        line.update(safe_text(" · ".join(parts), single_line=True).append(" ", style="") if parts else Text())

    def _show_count(self) -> None:
        count = self.query_one("#runs-count", Static)
        if not self._loaded_once:
            count.update(Text("loading…", style="dim"))
            return
        # One number that only changes when the runs do: exact up to the cap, never the rows loaded so far.
        known = self._count if self._count is not None else len(self._runs)
        if self._count is None and not self._exhausted:
            shown = f"≥ {known:,} runs"
        elif known >= COUNT_CAP:
            shown = f"≥ {COUNT_CAP:,} runs"
        else:
            shown = f"{known:,} run{'' if known == 1 else 's'}"
        text = Text(shown, style="dim")
        if self._marked and not self.read_only:
            text.append(" · ", style="dim")
            text.append(f"{len(self._marked)} marked", style=role_style(self.app.theme_variables, "accent", bold=True))
        show_text(count, text)

    # -- actions and events -----------------------------------------------------------------------

    def on_data_table_row_highlighted(self, _: DataTable.RowHighlighted) -> None:
        """Fetch the next page before the cursor reaches the last loaded row; at the top, nothing is new."""
        # The table's row now, not the event's: a rebuild passes through row 0 on its way back to the run.
        if self.query_one(KeyedTable).cursor_row == 0 and self._new_above and not self._cut_above:
            self._new_above.clear()
            self.query_one(NewRunsMarker).show_count(0)
        self._maybe_load_more()

    def on_keyed_table_paged_past(self, message: KeyedTable.PagedPast) -> None:
        """A page key met the window's edge: owe the rest of its move if the list goes on that way."""
        down = message.rows > 0
        more_that_way = not self._exhausted if down else self._cut_above
        if not more_that_way:
            self._owed_rows = 0
            return
        if self._owed_rows and (self._owed_rows > 0) != down:
            self._owed_rows = 0  # a page key the other way replaces what was owed
        self._owed_rows += message.rows
        table = self.query_one(KeyedTable)
        if (table.cursor_row < table.row_count - 1) if down else table.cursor_row > 0:
            table.call_after_refresh(self._pay_owed_rows)  # the page that way arrived since the key was taken

    def _pay_owed_rows(self) -> None:
        """Move the cursor on by what page keys were owed; what the rows held still cut short stays owed."""
        table = self.query_one(KeyedTable)
        rows, self._owed_rows = self._owed_rows, 0
        if not rows:
            return  # paid already: the page and the key's message both asked
        target = table.cursor_row + rows
        if target > table.row_count - 1 and not self._exhausted:
            self._owed_rows = target - (table.row_count - 1)
        elif target < 0 and self._cut_above:
            self._owed_rows = target
        table.move_cursor_by(rows)

    def _maybe_load_more(self) -> None:
        """Read the page after the window, or the one before it, once the cursor is near that edge."""
        table = self.query_one(KeyedTable)
        if not self._runs:
            return
        if not self._exhausted and table.cursor_row >= table.row_count - PREFETCH_ROWS:
            edge = ("more", self.query_filters, cursor_of(self._runs[-1], self.query_filters.sort))
        elif self._cut_above and table.cursor_row < PREFETCH_ROWS:
            edge = ("before", self.query_filters, cursor_of(self._runs[0], self.query_filters.sort))
        else:
            return
        if self._edge_read is not None and self._edge_read[0] == edge and not self._edge_read[1].is_finished:
            return  # that page is on its way: each key near the edge would otherwise cancel and restart its read
        self._edge_read = (edge, self._load_more() if edge[0] == "more" else self._load_before())

    def on_keyed_table_edge_wanted(self, message: KeyedTable.EdgeWanted) -> None:
        """Home: the newest run (read again if the window moved down); End: the oldest run the filter matches,
        read from the other end of the list (never everything in between)."""
        table = self.query_one(KeyedTable)
        if message.edge == "first":
            if self._cut_above:
                self._load_first()
            else:
                table.go_to_edge("first")
        elif self._exhausted:
            table.go_to_edge("last")
        else:
            self._load_end()

    def action_open_run(self) -> None:
        """Open the run under the cursor; from the search box, the first match (once its results are in);
        in the command line, run the command."""
        command = self.query_one(CommandLine)
        if command.has_focus:
            self.run_worker(command.action_submit(), exclusive=False)
            return
        search = self.query_one("#search", Input)
        if search.has_focus:
            self.query_one(KeyedTable).focus()
            if self.query_filters != self._shown_query:
                self._open_when_loaded = True  # the debounced search is still on its way
                return
            self._open_first_match()
            return
        run_id = self.highlighted_run_id
        if run_id is not None:
            self.post_message(OpenRun(run_id))

    def _open_first_match(self) -> None:
        table = self.query_one(KeyedTable)
        if not self._runs:
            self.notify("No run matches the search.", title="Search", severity="warning", markup=False)
            return
        table.move_cursor(row=0)
        self.post_message(OpenRun(self._runs[0].run_id))

    def action_filter(self, status: str | None) -> None:
        """Show only runs in ``status`` (``None``: all)."""
        self.status_filter = status

    def action_focus_search(self) -> None:
        """Put the cursor in the search box."""
        self.query_one("#search", Input).focus()

    def action_command_line(self) -> None:
        """Open the ``:`` command line."""
        self.query_one(CommandLine).open()

    def on_command_line_run(self, message: CommandLine.Run) -> None:
        """Apply a ``:`` command: status and ``wf`` go to the status keys and the search box, the rest to
        ``extra``; a command that cannot be applied says why and changes nothing."""
        self.query_one(KeyedTable).focus()
        try:
            query = apply_command(self.query_filters, message.command)
        except CommandError as exc:
            self.notify(str(exc), title=f":{message.command.split(' ')[0]}", severity="error", markup=False)
            return
        self.status_filter = query.status
        current_workflow, _ = parse_search(self.search)
        text = self.search
        if query.workflow_prefix != current_workflow:
            text = f"{WORKFLOW_PREFIX}{query.workflow_prefix}" if query.workflow_prefix else ""
        if query.workflow_prefix is None and query.run_id_prefix is None:
            text = ""  # :clear empties the search box too
        if text != self.search:
            self.query_one("#search", Input).value = text
            self.search = text
        self.extra = RunQuery(
            trigger=query.trigger, stuck=query.stuck, since=query.since, until=query.until, sort=query.sort
        )

    def action_to_top(self) -> None:
        """Go to the first row, where new runs arrive."""
        table = self.query_one(KeyedTable)
        if self._cut_above:
            self._load_first()  # the window is far down: read the top page again (it arrives at the top)
        elif table.row_count:
            table.move_cursor(row=0)
            table.scroll_to(y=0, animate=False)
        self._new_above.clear()
        self.query_one(NewRunsMarker).show_count(0)

    def action_reload(self) -> None:
        """Refresh now rather than at the next tick."""
        self._refresh_window()

    @on(Input.Changed, "#search")
    def _search_changed(self, event: Input.Changed) -> None:
        self.search = event.value

    def action_clear_search(self) -> None:
        """Empty the search box and go back to the table."""
        self.query_one("#search", Input).value = ""
        self.query_one(KeyedTable).focus()

    # -- marks and bulk cancel --------------------------------------------------------------------

    def action_toggle_mark(self) -> None:
        """Mark the run under the cursor for a bulk cancel, or unmark it."""
        run_id = self.highlighted_run_id
        run = next((r for r in self._runs if r.run_id == run_id), None)
        if run is None:
            return
        if run.run_id in self._marked:
            del self._marked[run.run_id]
        else:
            self._marked[run.run_id] = run
        self.query_one(KeyedTable).update_cell(run.run_id, "mark", _cell(self._mark_text(run.run_id)))
        # The table now differs from the row last drawn: the next sync must draw it again, not compare with it.
        self._drawn.pop(run.run_id, None)
        self._show_count()

    def action_unmark_all(self) -> None:
        """Forget every mark."""
        self._marked.clear()
        self._render_rows()

    def action_diff(self) -> None:
        """Compare two marked runs (the earlier started is A), or the replay under the cursor with its original."""
        if len(self._marked) == 2:
            a, b = sorted(self._marked.values(), key=lambda r: (r.started_at, r.run_id))
            self.app.push_screen(RunDiffScreen(self.services, run_a=a.run_id, run_b=b.run_id, read_only=self.read_only))
            return
        if self._marked:
            marked = "1 run is" if len(self._marked) == 1 else f"{len(self._marked)} runs are"
            self.notify(
                f"{marked} marked: mark exactly two to compare them (u clears the marks).",
                title="Diff",
                severity="warning",
                markup=False,
            )
            return
        run = next((r for r in self._runs if r.run_id == self.highlighted_run_id), None)
        if run is not None and run.trigger == "replay":
            self.app.push_screen(RunDiffScreen(self.services, run_a=None, run_b=run.run_id, read_only=self.read_only))
            return
        how = "a replay with its original" + ("" if self.read_only else ", or two runs marked with space")
        self.notify(f"d compares {how}; this run is not a replay.", title="Diff", severity="warning", markup=False)

    def action_bulk_cancel(self) -> None:
        """Cancel the marked runs; without marks, every RUNNING or WAITING run the filter matches."""
        if self._marked:
            self._confirm_bulk(for_marked(list(self._marked.values())))
            return
        query = self.query_filters
        if query.status is not None and query.status not in CANCELABLE:
            self.notify(
                f"Nothing to cancel: the list shows {query.status} runs, and only RUNNING or WAITING runs can be "
                "canceled. Mark runs with space, or choose another filter.",
                title="Bulk cancel",
                severity="warning",
                markup=False,
            )
            return
        self._select_for_bulk(query)

    @work(exclusive=True, exit_on_error=False, group="bulk-select")
    async def _select_for_bulk(self, query: RunQuery) -> None:
        try:
            run_ids = await self._cancelable_matching(query)
        except Exception as exc:
            self.post_message(self.BulkSelectFailed(query, failure_text(exc, self.services.endpoints)))
            return
        self.post_message(self.BulkSelected(query, run_ids))

    async def _cancelable_matching(self, query: RunQuery) -> list[str]:
        """Ids of every RUNNING or WAITING run the whole filter matches (time range, stuck… included)."""
        found: list[RunSummary] = []
        for wanted in [query.status] if query.status is not None else sorted(CANCELABLE):
            kwargs = {**query.list_kwargs(), "status": wanted}
            after: Cursor | None = None
            while True:
                page = await list_runs(self.services, **kwargs, after=after, limit=SELECT_PAGE)
                found.extend(page)
                if len(page) < SELECT_PAGE:
                    break
                after = cursor_of(page[-1])
        found.sort(key=lambda r: (r.started_at, r.run_id), reverse=True)
        return [r.run_id for r in found]

    def on_runs_screen_bulk_selected(self, message: BulkSelected) -> None:
        """Confirm the matching runs, or say that none match."""
        query = message.query
        workflow = f"{query.workflow_prefix}*" if query.workflow_prefix else query.workflow_id
        description = ", ".join(
            [describe_filter(query.status, workflow, query.run_id_prefix), *describe(replace(query, sort="started"))]
        )
        if not message.run_ids:
            self.notify(
                f"Nothing to cancel: no run matches {safe_text(description, single_line=True).plain}.",
                title="Bulk cancel",
                severity="warning",
                markup=False,
            )
            return
        self._confirm_bulk(for_filter(message.run_ids, description))

    def on_runs_screen_bulk_select_failed(self, message: BulkSelectFailed) -> None:
        """Say why nothing can be canceled now."""
        self.notify(
            f"Cannot find the runs to cancel: {safe_text(message.error, single_line=True).plain}",
            title="Bulk cancel",
            severity="error",
            markup=False,
        )

    def _confirm_bulk(self, selection: BulkSelection) -> None:
        self.app.push_screen(BulkCancelScreen(self.services, selection), self._bulk_done)

    def _bulk_done(self, outcomes: list[CancelOutcome] | None) -> None:
        """After an outcome: the marks are spent, the list shows the new statuses (backing out keeps them)."""
        if outcomes is None:
            return
        self._marked.clear()
        if self._loaded_once:
            self._render_rows()
        self._refresh_window()
        if outcomes:
            self.notify(f"Bulk cancel: {totals(outcomes)}.", title="Bulk cancel", markup=False)
