"""The run screen: summary, stuck banner, step timeline and the panes; refreshes itself until the run ends.

Its actions: replay (``R``), cancel (``x``), send the awaited event (``v``) and complete the open task (``t``)
change things and are hidden and unreachable in read-only mode; export (``e``) writes a file and an audit entry
but changes no run, so read-only mode keeps it.

Navigation keeps one run screen on the stack: opening a parent, child, replay or original replaces it and
extends the breadcrumb trail shown at the top, so escape goes straight back to the list.
"""

import asyncio
from collections.abc import Coroutine, Sequence
from datetime import datetime
from typing import Any, ClassVar, Final

from rich.text import Text
from textual import events, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Static, TabbedContent, TabPane, Tabs

from engine.services.audit import Actor
from engine.services.cancel import CANCELABLE, cancel_run
from engine.services.context import ServiceContext
from engine.services.export import export_run
from engine.services.health import diagnose
from engine.services.ingress import EventOutcome
from engine.services.runs import RunDetail, WaitView, get_run_detail, get_run_steps
from engine.services.tasks import get_task
from engine.temporal.ui import run_page_url
from studio_tui.failures import failure_text
from studio_tui.format import TERMINAL_STATUSES, role_style, short_id
from studio_tui.messages import OpenRun
from studio_tui.sanitize import safe_text
from studio_tui.screens.confirm_modal import ConfirmModal
from studio_tui.screens.replay_modal import ReplayModal
from studio_tui.screens.run_diff import RunDiffScreen
from studio_tui.screens.send_event_modal import SendEventModal
from studio_tui.screens.task_response_modal import TaskResponseModal
from studio_tui.widgets import run_records
from studio_tui.widgets.cancel_banner import CancelBanner, cancel_pending
from studio_tui.widgets.health_header import HealthHeader
from studio_tui.widgets.json_view import JsonView
from studio_tui.widgets.record_pane import RecordPane
from studio_tui.widgets.run_summary import RunSummary
from studio_tui.widgets.stuck_banner import ASKING, StuckBanner
from studio_tui.widgets.studio_footer import SteadyFooter
from studio_tui.widgets.tab_label import relabel
from studio_tui.widgets.timeline import Timeline

REFRESH_SECONDS: Final = 2.0
ERROR_SECONDS: Final = 30.0
"""How long an error notification stays up (long enough to read a reason over a slow SSH link)."""
CLOCK_SECONDS: Final = 1.0
"""How often relative times ("8s ago", "times out in 4m") are redrawn, also once the run has ended."""
DIAGNOSE_SECONDS: Final = 10.0
"""How often to ask Temporal again why a stuck run is stuck (each ask is a few RPCs)."""
STEPS_PAGE: Final = 100
"""Step attempts read for the first paint, and per page after it as the operator scrolls the timeline."""
FIRST_READ_WAIT: Final = 0.25
"""How long Enter waits for the run before its screen opens without it (and shows "Loading…" until it arrives)."""

RECORDS: Final = {
    "waits": lambda detail, now, variables: run_records.waits(detail, now, variables),
    "calls": lambda detail, now, variables: run_records.invocations(detail, variables),
    "events": lambda detail, now, variables: run_records.events(detail, now, variables),
    "audit": lambda detail, now, variables: run_records.audit(detail, now),
    "logs": lambda detail, now, variables: run_records.logs(detail, variables),
    "children": lambda detail, now, variables: run_records.children(detail, now, variables),
    "replays": lambda detail, now, variables: run_records.replays(detail, now, variables),
}
"""How each record pane's rows are built from the run."""
TIMELESS: Final = frozenset({"input", "vars", "calls", "logs"})
"""Panes that show no relative time: drawn again only when the run was loaded again, not every clock tick."""


def _count(detail: RunDetail, pane_id: str) -> int:
    """The rows of a record pane (one per record), for its tab's title without building them."""
    records: dict[str, Sequence[object]] = {
        "waits": detail.waits,
        "calls": detail.invocations,
        "events": detail.events,
        "audit": detail.audit,
        "logs": detail.logs,
        "children": detail.children,
        "replays": detail.replays,
    }
    return len(records.get(pane_id, ()))


PANES: Final[tuple[tuple[str, str], ...]] = (
    ("timeline", "Timeline"),
    ("input", "Input"),
    ("vars", "Vars"),
    ("waits", "Waits"),
    ("calls", "Calls"),
    ("events", "Events"),
    ("audit", "Audit"),
    ("logs", "Logs"),
    ("replays", "Replays"),
    ("children", "Children"),
)
"""Pane ids and tab titles, in tab order."""


async def read_first(services: ServiceContext, run_id: str) -> RunDetail | None:
    """The run as the screen's first frame shows it (its first page of steps), or ``None`` if it cannot be read
    within ``FIRST_READ_WAIT`` (the screen then opens at once, reads it itself and says why it failed)."""
    try:
        return await asyncio.wait_for(get_run_detail(services, run_id, steps_limit=STEPS_PAGE), FIRST_READ_WAIT)
    except Exception:  # TimeoutError included: a database that does not answer must not make Enter look dead
        return None


RunFooter = SteadyFooter
"""The run screen's footer (opening a run updates its bindings several times; the keys rarely change)."""


class RunDetailScreen(Screen[None]):
    """Everything about one run (redacted by the services layer)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        # In footer order: at 80 columns the footer has room for the first few only.
        Binding("escape", "back", "Back"),
        Binding("R", "replay", "Replay"),
        Binding("x", "cancel_run", "Cancel run"),
        Binding("v", "send_event", "Send event"),
        Binding("t", "complete_task", "Complete task"),
        Binding("o", "original", "Original"),
        Binding("d", "diff", "Diff with original", show=False),  # a replay only (run diff, issue 14)
        Binding("e", "export", "Export"),
        # The tabs show that there are panes; at 80 columns the footer keeps room for Help and Quit instead.
        Binding("right_square_bracket", "next_pane", "Next pane", key_display="]", show=False),
        Binding("left_square_bracket", "previous_pane", "Previous pane", key_display="[", show=False),
        Binding("c", "copy_id", "Copy id", show=False),
        # The summary says "(u copies the link)" whenever a Temporal UI is known.
        Binding("u", "copy_temporal_link", "Copy Temporal UI link", show=False),
        # The summary says "parent … (p)" whenever there is one.
        Binding("p", "parent", "Parent", show=False),
        Binding("r", "reload", "Refresh", show=False),
        Binding("J", "detail_scroll(1)", "Scroll detail down", show=False),
        Binding("K", "detail_scroll(-1)", "Scroll detail up", show=False),
    ]
    MUTATING: ClassVar[frozenset[str]] = frozenset({"replay", "cancel_run", "send_event", "complete_task"})
    """Actions that change a run: never offered, and never run, in read-only mode."""
    HELP_NOTES: ClassVar[tuple[str, ...]] = (
        "R replays the run: unedited, with its original input; edited, with your payload (placeholders left "
        "as [REDACTED] keep their secret). x cancels a RUNNING or WAITING run through Temporal.",
        "v sends the event a WAITING run waits for (name and key prefilled, you type the JSON payload); t completes "
        "its open human task. Both are hidden in read-only mode.",
        "Escape goes back to the list: parent (p), children and replays (Enter) and the original of a replay (o) "
        "open in place, and the trail at the top says how you got there. J/K scroll the selected record's detail.",
        "e exports the run, redacted, to run-<id>-<time>.json in $RUNSTUDIO_HOME/exports (or the studio's "
        "--output-dir) and records it in the audit trail; the message says the full path. It changes no run, so "
        "it stays available in read-only mode.",
        "u copies the run's page in Temporal's Web UI (the summary links to it); c copies the run id.",
    )
    """What the keys alone do not say (for the help overlay)."""
    READ_ONLY_HELP_NOTES: ClassVar[tuple[str, ...]] = (
        "Escape goes back to the list: parent (p), children and replays (Enter) and the original of a replay (o) "
        "open in place, and the trail at the top says how you got there. J/K scroll the selected record's detail.",
        "e exports the run, redacted, to run-<id>-<time>.json in $RUNSTUDIO_HOME/exports (or the studio's "
        "--output-dir) and records it in the audit trail; the message says the full path.",
        "u copies the run's page in Temporal's Web UI (the summary links to it); c copies the run id.",
    )
    """The help notes in read-only mode: only keys that are there (no replay, cancel, event or task)."""

    # ``repaint=False``: the watchers update the widgets that change; a screen repaint would redraw the whole screen
    # (a full frame) on every load of the run.
    detail: reactive[RunDetail | None] = reactive(None, init=False, always_update=True, repaint=False)
    """The run as last loaded (redrawn on every load: relative times move on even when the run does not)."""
    problem: reactive[str | None] = reactive(None, init=False, repaint=False)
    """Why the last load failed (what was shown stays); ``None`` after a successful load."""
    stuck_reason: reactive[str] = reactive(ASKING, init=False, repaint=False)
    """Temporal's best explanation of why the run is stuck (only shown while it is)."""

    def __init__(
        self,
        services: ServiceContext,
        run_id: str,
        *,
        read_only: bool,
        trail: tuple[str, ...] = (),
        detail: RunDetail | None = None,
    ) -> None:
        """``detail``: the run already read (``read_first``), shown in the screen's first frame."""
        super().__init__()
        self.services = services
        self.run_id = run_id
        self.read_only = read_only
        self.trail = trail
        """Run ids opened before this one from run screens, oldest first (the breadcrumb)."""
        self._clock_timer: Timer | None = None
        self._refresh_timer: Timer | None = None
        self._diagnose_timer: Timer | None = None
        self._shown_status: str | None = None
        self._shown_waits: frozenset[str] = frozenset()
        self._replays_tab_shown = True
        self._canceling = False
        self._labels: dict[str, str] = {}
        self._pane_shown: dict[str, RunDetail] = {}
        """The run each mounted pane last showed (a timeless pane is not drawn again for the same run)."""
        self._mounted_panes: set[str] = {"timeline"}
        self._steps_shown = 0
        """Step attempts in the run shown (a refresh reads as many, so pages read on scrolling stay)."""
        self._first = detail
        self._prefetch: asyncio.Task[RunDetail] | None = None
        if detail is not None:
            return
        try:
            # The first read goes out now, before composing and mounting the screen take the event loop.
            self._prefetch = asyncio.get_running_loop().create_task(self._fetch())
            self._prefetch.add_done_callback(lambda task: task.cancelled() or task.exception())
        except RuntimeError:  # built outside a running loop: the first load reads it
            self._prefetch = None

    async def _fetch(self) -> RunDetail:
        """The run with its first page of steps, or as many as are shown already (a refresh keeps them)."""
        return await get_run_detail(self.services, self.run_id, steps_limit=max(STEPS_PAGE, self._steps_shown))

    def compose(self) -> ComposeResult:
        """Header, banner, summary, panes, footer."""
        yield HealthHeader(tenant=self.services.tenant, read_only=self.read_only)
        yield Static(self._trail_text(), id="run-trail", markup=False)
        yield CancelBanner(id="cancel-banner")
        yield StuckBanner(id="stuck-banner")
        yield RunSummary(id="run-summary")
        yield Static(id="run-problem", markup=False)
        with TabbedContent(id="panes", initial="timeline"):
            for pane_id, title in PANES:
                # Only the timeline now: the other panes get their widgets when first shown.
                with TabPane(title, id=pane_id):
                    if pane_id == "timeline":
                        yield Timeline()
        yield RunFooter()  # keeps Help and Quit at 80 columns (issue 13)

    def on_mount(self) -> None:
        """Load now, then every ``REFRESH_SECONDS`` while the run is not finished."""
        self._show_loading()
        self.query_one("#run-problem", Static).display = False
        self._focus_active_pane()
        if self._first is not None:
            self.detail, self._first = self._first, None
        else:
            self._load()
        self._refresh_timer = self.set_interval(REFRESH_SECONDS, self._tick)
        self._clock_timer = self.set_interval(CLOCK_SECONDS, self._redraw)

    def _show_loading(self) -> None:
        self.query_one("#run-summary", RunSummary).update(
            Text.assemble("Loading run ", safe_text(self.run_id, single_line=True), "…")
        )

    def show_run(self, run_id: str, *, trail: tuple[str, ...] = (), detail: RunDetail | None = None) -> None:
        """Show another run on this screen, as a new screen would show it, without composing one.

        Composing and styling the screen's widgets again was most of the time to open a run, so the app keeps one
        run screen and gives it each run, and a parent, child, replay or original opens in place. Everything that
        belonged to the previous run goes: its loads (a late answer must not draw the old run over the new one),
        trail, banners, problem line, stuck reason, panes drawn and timeline rows. ``detail``: the run already
        read (``read_first``), drawn now; without it the run is read (and "Loading…" says so meanwhile).
        """
        self.workers.cancel_node(self)  # this screen's loads of the previous run (cancel and export are the app's)
        if self._prefetch is not None:
            self._prefetch.cancel()
        self._prefetch, self._first = None, None
        self.run_id = run_id
        self.trail = trail
        if self._diagnose_timer is not None:
            self._diagnose_timer.stop()
            self._diagnose_timer = None
        self._shown_status = None
        self._shown_waits = frozenset()
        self._canceling = False
        self._pane_shown = {}
        self._steps_shown = 0
        self.set_reactive(RunDetailScreen.stuck_reason, ASKING)
        self.problem = None
        self.query_one("#run-trail", Static).update(self._trail_text())
        self.query_one(CancelBanner).hide()
        self.query_one(StuckBanner).hide()
        self.query_one(Timeline).reset()
        tabs = self.query_one(TabbedContent)
        if tabs.active != "timeline":
            tabs.active = "timeline"
        self._focus_active_pane()
        if detail is not None:
            self.detail = detail
            return
        self.set_reactive(RunDetailScreen.detail, None)
        self._show_loading()
        for pane_id, title in PANES:  # no counts until the run is read
            if self._labels.get(pane_id, title) != title:
                self._labels[pane_id] = title
                relabel(tabs, pane_id, title)
        self.refresh_bindings()
        self._load()

    def on_screen_suspend(self, _: events.ScreenSuspend) -> None:
        """No refreshing while another screen (another run, help) is on top."""
        for timer in (self._refresh_timer, self._diagnose_timer, self._clock_timer):
            if timer is not None:
                timer.pause()

    def on_screen_resume(self, _: events.ScreenResume) -> None:
        """Catch up at once when the operator comes back."""
        for timer in (self._refresh_timer, self._diagnose_timer, self._clock_timer):
            if timer is not None:
                timer.resume()
        if self.detail is not None:
            self._tick()

    def _tick(self) -> None:
        if self.detail is None or self.detail.status not in TERMINAL_STATUSES:
            self._load()

    # -- workers ----------------------------------------------------------------------------------

    @work(exclusive=True, exit_on_error=False, group="run-detail")
    async def _load(self) -> None:
        prefetch, self._prefetch = self._prefetch, None
        try:
            detail = await (prefetch if prefetch is not None else self._fetch())
        except Exception as exc:
            self.problem = failure_text(exc, self.services.endpoints)
            return
        self.problem = None
        shown = self.detail
        if shown is not None and detail.steps_more and len(shown.steps) > len(detail.steps):
            # A page read while this refresh was under way: keep it rather than dropping the rows.
            detail = detail.model_copy(update={"steps": [*detail.steps, *shown.steps[len(detail.steps) :]]})
        self.detail = detail

    def on_timeline_need_more(self, event: Timeline.NeedMore) -> None:
        """The operator scrolled near the last step shown: read the next page."""
        event.stop()
        self._load_more()

    @work(exclusive=True, exit_on_error=False, group="run-steps")
    async def _load_more(self) -> None:
        detail = self.detail
        if detail is None or not detail.steps_more or not detail.steps:
            return
        last = detail.steps[-1]
        try:
            page = await get_run_steps(self.services, self.run_id, after=(last.seq, last.attempt), limit=STEPS_PAGE)
        except Exception as exc:
            self.query_one(Timeline).ask_again()
            self._error(self.app, "Cannot read more steps", failure_text(exc, self.services.endpoints))
            return
        if self.detail is not detail:  # reloaded meanwhile: the timeline asks again if it still needs to
            self.query_one(Timeline).ask_again()
            return
        self.detail = detail.model_copy(update={"steps": [*detail.steps, *page.steps], "steps_more": page.more})

    @work(exclusive=True, exit_on_error=False, group="run-diagnose")
    async def _diagnose(self) -> None:
        try:
            diagnosis = await diagnose(self.services, self.run_id)
        except Exception as exc:
            self.stuck_reason = f"could not be determined: {failure_text(exc, self.services.endpoints)}"
            return
        self.stuck_reason = diagnosis.message if diagnosis else "the run is no longer stuck; refreshing…"

    # -- rendering --------------------------------------------------------------------------------

    def _trail_text(self) -> Text:
        """``runs › 1a2b3c4d › 5e6f7a8b``: how the operator got here, this run last and in bold."""
        text = Text("runs", style="dim", no_wrap=True, overflow="ellipsis")
        for run_id in self.trail:
            text.append(" › ", style="dim")
            text.append_text(safe_text(short_id(run_id), single_line=True, style="dim"))
        text.append(" › ", style="dim")
        text.append_text(safe_text(short_id(self.run_id), single_line=True, style="bold"))
        text.append("   esc back to the list", style="dim")
        return text

    def _redraw(self) -> None:
        """Move relative times on between loads (and after the run ended, when loads stop)."""
        if self.detail is not None:
            self._show_run(self.detail)

    def watch_detail(self, detail: RunDetail | None) -> None:
        """Show the new state everywhere."""
        if detail is None:
            return
        self._steps_shown = len(detail.steps)
        if detail.status != self._shown_status or self._open_wait_kinds() != self._shown_waits:
            self._shown_status = detail.status
            self._shown_waits = self._open_wait_kinds()
            self.refresh_bindings()  # cancel, send event and complete task depend on the run's state
        self._show_run(detail)

    def _show_run(self, detail: RunDetail) -> None:
        now = self.services.clock()
        self.query_one(RunSummary).show(detail, now, self._temporal_page())
        self._follow_cancel(detail)
        self._follow_stuck(detail)
        tabs = self.query_one(TabbedContent)
        self._follow_replays(tabs, bool(detail.replays))
        # Only the pane on screen is drawn; another is drawn when it is shown (``on_tabbed_content_tab_activated``).
        self._show_pane(tabs.active, detail, now)
        for pane_id, title in PANES:
            count = _count(detail, pane_id)
            label = f"{title} {count}" if count else title
            if self._labels.get(pane_id) != label:
                self._labels[pane_id] = label
                relabel(tabs, pane_id, label)

    def _show_pane(self, pane_id: str, detail: RunDetail, now: datetime) -> None:
        """Draw one pane (if its widgets are mounted; a timeless one only when the run was loaded again)."""
        if pane_id not in self._mounted_panes or (pane_id in TIMELESS and self._pane_shown.get(pane_id) is detail):
            return
        pane = self.query_one(f"#{pane_id}", TabPane)
        if pane_id == "timeline":
            self.query_one(Timeline).show(detail.steps, now, more=detail.steps_more)
        elif pane_id == "input":
            pane.query_one(JsonView).show(("input (redacted)", detail.input))
        elif pane_id == "vars":
            pane.query_one(JsonView).show(("vars", detail.vars), ("output", detail.output))
        else:
            pane.query_one(RecordPane).show(RECORDS[pane_id](detail, now, self.app.theme_variables))
        self._pane_shown[pane_id] = detail

    async def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        """A pane shown for the first time gets its widgets, then the run; the focus goes into it."""
        pane_id = event.pane.id
        if pane_id is None:
            return
        if pane_id not in self._mounted_panes:
            await event.pane.mount(JsonView() if pane_id in ("input", "vars") else RecordPane())
            # Only now: the redraw timer can fire while the widgets compose, and must not draw into them yet.
            # (This handler is not re-entered meanwhile: the screen handles its messages one at a time.)
            self._mounted_panes.add(pane_id)
        if self.detail is not None:
            self._show_pane(pane_id, self.detail, self.services.clock())
        if self.query_one(TabbedContent).active == pane_id:
            self._focus_active_pane()

    def _follow_replays(self, tabs: TabbedContent, any_replays: bool) -> None:
        """The Replays tab only when there is one: at 80 columns the tab bar has no room for an empty tab."""
        if any_replays == self._replays_tab_shown:
            return
        self._replays_tab_shown = any_replays
        if any_replays:
            tabs.show_tab("replays")
            return
        if tabs.active == "replays":
            tabs.active = "timeline"
            self._focus_active_pane()
        tabs.hide_tab("replays")

    def _follow_cancel(self, detail: RunDetail) -> None:
        banner = self.query_one(CancelBanner)
        if detail.cancel_requested_at is not None and cancel_pending(detail.status, detail.cancel_requested_at):
            banner.show_pending(detail.cancel_requested_at, detail.cancel_requested_by)
        else:
            banner.hide()

    def _follow_stuck(self, detail: RunDetail) -> None:
        banner = self.query_one(StuckBanner)
        if not detail.stuck:
            banner.hide()
            if self._diagnose_timer is not None:
                self._diagnose_timer.stop()
                self._diagnose_timer = None
            return
        banner.show_stuck(detail.run_id, self.stuck_reason)
        if self._diagnose_timer is None:
            self._diagnose()
            self._diagnose_timer = self.set_interval(DIAGNOSE_SECONDS, self._diagnose)

    def watch_stuck_reason(self, reason: str) -> None:
        """A new explanation replaces the old one on the banner."""
        if self.detail is not None and self.detail.stuck:
            self.query_one(StuckBanner).show_stuck(self.detail.run_id, reason)

    def watch_problem(self, problem: str | None) -> None:
        """A failed load is said above the panes; the last good state stays visible."""
        line = self.query_one("#run-problem", Static)
        line.display = problem is not None
        if problem is not None:
            text = Text("⚠ could not load the run: ", style=role_style(self.app.theme_variables, "error", bold=True))
            text.append_text(safe_text(problem, single_line=True))
            line.update(text)

    # -- actions ----------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Hide replay and cancel in read-only mode, and cancel unless the run is RUNNING or WAITING."""
        if action in self.MUTATING and self.read_only:
            return False
        if action == "cancel_run":
            return self.detail is not None and self.detail.status in CANCELABLE and not self._canceling
        if action == "replay":
            return True if self.detail is not None else None  # shown, but waits for the run's input
        if action == "send_event":
            return "event" in self._open_wait_kinds()
        if action == "complete_task":
            return "human" in self._open_wait_kinds()
        if action == "original":
            return self.detail is not None and self.detail.replay_of_run_id is not None
        if action == "diff":
            return self.detail is not None and self.detail.replay_of_run_id is not None
        return True

    def _open_wait(self, kind: str) -> WaitView | None:
        """The run's open wait of ``kind`` (``event`` or ``human``) while it is WAITING."""
        if self.detail is None or self.detail.status != "WAITING":
            return None
        return next((w for w in self.detail.waits if w.status == "WAITING" and w.wait_type == kind), None)

    def _open_wait_kinds(self) -> frozenset[str]:
        """Kinds of open wait the operator can act on: an event wait has a name to send, a human wait its task id."""
        kinds = set()
        event, human = self._open_wait("event"), self._open_wait("human")
        if event is not None and event.event_name is not None:
            kinds.add("event")
        if human is not None and human.key is not None:
            kinds.add("human")
        return frozenset(kinds)

    def action_back(self) -> None:
        """Back to the list (or whatever screen opened the first run of the trail)."""
        self.app.pop_screen()

    def open_linked(self, run_id: str) -> None:
        """Show ``run_id`` in place of this run, extending the trail (or cutting it back to a run already on it)."""
        if run_id == self.run_id:
            return
        trail = self.trail[: self.trail.index(run_id)] if run_id in self.trail else (*self.trail, self.run_id)
        self.show_run(run_id, trail=trail)  # in place: one run screen on the stack, nothing composed again

    def action_parent(self) -> None:
        """Open the parent run, if there is one."""
        parent = self.detail.parent_run_id if self.detail else None
        if parent is None:
            self.notify("This run has no parent run.", severity="warning")
            return
        self.open_linked(parent)

    def action_original(self) -> None:
        """Open the run this one replayed."""
        original = self.detail.replay_of_run_id if self.detail else None
        if original is not None:
            self.open_linked(original)

    def action_diff(self) -> None:
        """Compare this replay with its original (run diff)."""
        original = self.detail.replay_of_run_id if self.detail else None
        if original is not None:
            screen = RunDiffScreen(
                self.services,
                run_a=original,
                run_b=self.run_id,
                read_only=self.read_only,
                trail=(*self.trail, self.run_id),
            )
            self.app.push_screen(screen)

    def action_detail_scroll(self, lines: int) -> None:
        """Scroll the detail under the active pane's table (the selected record's JSON) by ``lines``."""
        tabs = self.query_one(TabbedContent)
        for view in self.query_one(f"#{tabs.active}", TabPane).query(JsonView):
            if view.display:
                view.scroll_relative(y=lines * max(1, view.size.height - 1), animate=False)

    def action_copy_id(self) -> None:
        """Copy the run id to the operator's clipboard (OSC 52, so it works over SSH)."""
        self.app.copy_to_clipboard(self.run_id)
        self.notify(f"Copied run id {short_id(safe_text(self.run_id).plain)}… to the clipboard.", markup=False)

    def _temporal_page(self) -> str | None:
        """This run's page in Temporal's Web UI, or ``None`` when no UI is known."""
        endpoints = self.services.endpoints
        return run_page_url(endpoints.temporal_ui_url, endpoints.temporal_namespace, self.run_id)

    def action_copy_temporal_link(self) -> None:
        """Copy the run's page in Temporal's Web UI to the clipboard (OSC 52, so it works over SSH)."""
        page = self._temporal_page()
        if page is None:
            self.notify(
                "No Temporal Web UI is known: the embedded stack serves one; for another Temporal set TEMPORAL_UI_URL.",
                severity="warning",
                markup=False,
            )
            return
        self.app.copy_to_clipboard(page)
        self.notify(f"Copied the Temporal UI link: {page}", markup=False)

    def action_next_pane(self) -> None:
        """Show the pane to the right."""
        self._step_pane(+1)

    def action_previous_pane(self) -> None:
        """Show the pane to the left."""
        self._step_pane(-1)

    def _step_pane(self, step: int) -> None:
        tabs = self.query_one(TabbedContent)
        ids = [pane_id for pane_id, _ in PANES if pane_id != "replays" or self._replays_tab_shown]
        tabs.active = ids[(ids.index(tabs.active) + step) % len(ids)]
        self._focus_active_pane()

    def _focus_active_pane(self) -> None:
        # Focus must not stay in a hidden pane: TabbedContent would switch back to the pane holding it.
        tabs = self.query_one(TabbedContent)
        pane = self.query_one(f"#{tabs.active}", TabPane)
        shown = [w for w in pane.query("KeyedTable, JsonView") if w.display and w.parent and w.parent.display]
        (shown[0] if shown else tabs.query_one(Tabs)).focus()

    def action_reload(self) -> None:
        """Load now (also after the run has finished, when automatic refresh stops)."""
        self._load()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a child run or a replay opens it."""
        for pane_id in ("children", "replays"):
            if self.query_one(f"#{pane_id}", TabPane) in event.data_table.ancestors and event.row_key.value:
                event.stop()
                self.open_linked(event.row_key.value)

    # -- replay -------------------------------------------------------------------------------------

    def action_replay(self) -> None:
        """Open the replay editor on the run's redacted input; on success, open the new run."""
        if self.read_only or self.detail is None:
            return
        workflow = f"{self.detail.workflow_id}@{self.detail.workflow_version}"
        modal = ReplayModal(self.services, self.run_id, self.detail.input, workflow=workflow)
        self.app.push_screen(modal, callback=self._replay_started)

    def _replay_started(self, new_run_id: str | None) -> None:
        if new_run_id is None:
            return
        self.notify(f"Replay started: {short_id(safe_text(new_run_id).plain)}", markup=False)
        if self.is_current:
            self.open_linked(new_run_id)
        else:
            self.post_message(OpenRun(new_run_id))

    # -- send event and complete task -----------------------------------------------------------------

    def action_send_event(self) -> None:
        """Send the event the run waits for: name and key prefilled, payload typed as JSON."""
        wait = self._open_wait("event")
        if self.read_only or wait is None or wait.event_name is None:
            return
        condition = run_records.filters_text(wait.filters)
        modal = SendEventModal(self.services, event_name=wait.event_name, correlation_key=wait.key, condition=condition)
        self.app.push_screen(modal, callback=self._event_sent)

    def _event_sent(self, outcome: EventOutcome | None) -> None:
        if outcome is None:
            return
        if outcome.error:
            self._error(self.app, "Event recorded, not routed", outcome.error)
        else:
            reached = "reached this run" if self.run_id in outcome.signaled_run_ids else "did not reach this run"
            self.notify(f"Event {short_id(outcome.event_id)} sent: {reached}", markup=False)
        self._load()

    def action_complete_task(self) -> None:
        """Answer the run's open human task in the response editor."""
        wait = self._open_wait("human")
        if self.read_only or wait is None or wait.key is None:
            return
        self._in_background(self._open_task(wait.key), "run-task")

    async def _open_task(self, task_id: str) -> None:
        app = self.app
        try:
            task = await get_task(self.services, task_id)
        except Exception as exc:
            self._error(app, "Cannot open the task", failure_text(exc, self.services.endpoints))
            return
        if self.is_current:
            app.push_screen(TaskResponseModal(self.services, task), callback=self._task_done)

    def _task_done(self, completed: bool | None) -> None:
        if completed:
            self.notify("Task completed — the run goes on", markup=False)
            self._load()

    # -- cancel -------------------------------------------------------------------------------------

    def action_cancel_run(self) -> None:
        """Ask first; then ask Temporal to cancel the run."""
        if self.read_only or self.detail is None or self.detail.status not in CANCELABLE or self._canceling:
            return
        message = Text("Cancel run ")
        message.append_text(safe_text(short_id(self.run_id), single_line=True, style="bold"))
        message.append("?\nTemporal is asked first; nothing changes unless it accepts.")
        modal = ConfirmModal("Cancel run", message, confirm_label="Cancel run")
        self.app.push_screen(modal, callback=self._cancel_confirmed)

    def _cancel_confirmed(self, confirmed: bool | None) -> None:
        if confirmed and not self.read_only:
            self._canceling = True
            self.refresh_bindings()
            self._in_background(self._cancel(), "run-cancel")

    async def _cancel(self) -> None:
        app, run = self.app, self._run_label()
        try:
            outcome = await cancel_run(self.services, self.run_id, actor=Actor.current())
        except Exception as exc:
            self._error(app, f"Cancel failed: {run}", failure_text(exc, self.services.endpoints))
            outcome = None
        self._canceling = False
        if self.is_attached:
            self.refresh_bindings()
            self._load()  # then the refresh timer keeps going until the run shows CANCELED
        if outcome is None:
            return
        if outcome.outcome == "canceled":
            note = "Cancel requested — the run ends CANCELED as it unwinds"
            if outcome.reason:  # accepted, but something about it needs saying (its audit entry failed)
                note += f" ({safe_text(outcome.reason, single_line=True).plain})"
            app.notify(note, title=run, markup=False)
        elif outcome.outcome == "refused":
            self._error(app, f"Cancel refused: {run}", outcome.reason or "Temporal gave no reason")
        elif outcome.outcome == "already_requested":
            reason = safe_text(outcome.reason or "a cancel is already pending", single_line=True).plain
            app.notify(reason, title=f"Already requested: {run}", severity="warning", markup=False)
        else:
            reason = safe_text(outcome.reason or "the run is over").plain
            app.notify(reason, title=f"Not cancelable: {run}", severity="warning", timeout=ERROR_SECONDS, markup=False)

    # -- export -------------------------------------------------------------------------------------

    def action_export(self) -> None:
        """Write the run, redacted, to a JSON file in the current directory (allowed in read-only mode)."""
        self._in_background(self._export(), "run-export")

    async def _export(self) -> None:
        app, run = self.app, self._run_label()
        try:
            # The app's --output-dir, else $RUNSTUDIO_HOME/exports: never the current directory (issue 13).
            output_dir = getattr(app, "exports_dir", None)
            path = await export_run(self.services, self.run_id, actor=Actor.current(), output_dir=output_dir)
        except Exception as exc:
            self._error(app, f"Export failed: {run}", failure_text(exc, self.services.endpoints))
            return
        app.notify(f"Exported to {safe_text(str(path)).plain}", markup=False)

    # -- helpers ------------------------------------------------------------------------------------

    def _in_background(self, work: Coroutine[Any, Any, None], group: str) -> None:
        """Run ``work`` as a worker of the app rather than of this screen.

        A ``@work`` method of the screen would be cancelled when the operator leaves the screen (escape, another
        run), abandoning a cancel or an export halfway and losing what it had to say. The app's worker finishes
        and notifies wherever the operator is; the screen is only touched while it is still attached.
        """
        self.app.run_worker(work, group=group, exit_on_error=False)

    def _run_label(self) -> str:
        """``run 1a2b3c4d`` for notifications, which may be read on another screen."""
        return f"run {short_id(safe_text(self.run_id, single_line=True).plain)}"

    @staticmethod
    def _error(app: App[object], title: str, reason: str) -> None:
        """An error notification that stays up long enough to be read (untrusted ``reason`` is sanitised)."""
        app.notify(safe_text(reason).plain, title=title, severity="error", timeout=ERROR_SECONDS, markup=False)
