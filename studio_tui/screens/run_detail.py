"""The run screen: summary, stuck banner, step timeline and the panes; refreshes itself until the run ends."""

from typing import ClassVar, Final

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Static, TabbedContent, TabPane, Tabs

from engine.services.context import ServiceContext
from engine.services.health import diagnose
from engine.services.runs import RunDetail, get_run_detail
from studio_tui.format import TERMINAL_STATUSES, role_style, short_id
from studio_tui.messages import OpenRun
from studio_tui.sanitize import safe_text
from studio_tui.widgets import run_records
from studio_tui.widgets.health_header import HealthHeader
from studio_tui.widgets.json_view import JsonView
from studio_tui.widgets.record_pane import RecordPane
from studio_tui.widgets.run_summary import RunSummary
from studio_tui.widgets.stuck_banner import ASKING, StuckBanner
from studio_tui.widgets.timeline import Timeline

REFRESH_SECONDS: Final = 2.0
DIAGNOSE_SECONDS: Final = 10.0
"""How often to ask Temporal again why a stuck run is stuck (each ask is a few RPCs)."""

PANES: Final[tuple[tuple[str, str], ...]] = (
    ("timeline", "Timeline"),
    ("input", "Input"),
    ("vars", "Vars"),
    ("waits", "Waits"),
    ("calls", "Calls"),
    ("events", "Events"),
    ("audit", "Audit"),
    ("logs", "Logs"),
    ("children", "Children"),
)
"""Pane ids and tab titles, in tab order."""


class RunDetailScreen(Screen[None]):
    """Everything about one run (redacted by the services layer)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("p", "parent", "Parent"),
        Binding("c", "copy_id", "Copy id"),
        Binding("right_square_bracket", "next_pane", "Next pane", key_display="]"),
        Binding("left_square_bracket", "previous_pane", "Previous pane", key_display="[", show=False),
        Binding("r", "reload", "Refresh", show=False),
    ]

    detail: reactive[RunDetail | None] = reactive(None, init=False, always_update=True)
    """The run as last loaded (redrawn on every load: relative times move on even when the run does not)."""
    problem: reactive[str | None] = reactive(None, init=False)
    """Why the last load failed (what was shown stays); ``None`` after a successful load."""
    stuck_reason: reactive[str] = reactive(ASKING, init=False)
    """Temporal's best explanation of why the run is stuck (only shown while it is)."""

    def __init__(self, services: ServiceContext, run_id: str, *, read_only: bool) -> None:
        super().__init__()
        self.services = services
        self.run_id = run_id
        self.read_only = read_only
        self._refresh_timer: Timer | None = None
        self._diagnose_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        """Header, banner, summary, panes, footer."""
        yield HealthHeader(tenant=self.services.tenant, read_only=self.read_only)
        yield StuckBanner(id="stuck-banner")
        yield RunSummary(id="run-summary")
        yield Static(id="run-problem", markup=False)
        with TabbedContent(id="panes", initial="timeline"):
            for pane_id, title in PANES:
                with TabPane(title, id=pane_id):
                    if pane_id == "timeline":
                        yield Timeline()
                    elif pane_id in ("input", "vars"):
                        yield JsonView()
                    else:
                        yield RecordPane()
        yield Footer()

    def on_mount(self) -> None:
        """Load now, then every ``REFRESH_SECONDS`` while the run is not finished."""
        self.query_one("#run-summary", RunSummary).update(
            Text.assemble("Loading run ", safe_text(self.run_id, single_line=True), "…")
        )
        self.query_one("#run-problem", Static).display = False
        self._focus_active_pane()
        self._load()
        self._refresh_timer = self.set_interval(REFRESH_SECONDS, self._tick)

    def on_screen_suspend(self, _: events.ScreenSuspend) -> None:
        """No refreshing while another screen (another run, help) is on top."""
        for timer in (self._refresh_timer, self._diagnose_timer):
            if timer is not None:
                timer.pause()

    def on_screen_resume(self, _: events.ScreenResume) -> None:
        """Catch up at once when the operator comes back."""
        for timer in (self._refresh_timer, self._diagnose_timer):
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
        try:
            detail = await get_run_detail(self.services, self.run_id)
        except Exception as exc:
            self.problem = str(exc)
            return
        self.problem = None
        self.detail = detail

    @work(exclusive=True, exit_on_error=False, group="run-diagnose")
    async def _diagnose(self) -> None:
        try:
            diagnosis = await diagnose(self.services, self.run_id)
        except Exception as exc:
            self.stuck_reason = f"could not be determined: {exc}"
            return
        self.stuck_reason = diagnosis.message if diagnosis else "the run is no longer stuck; refreshing…"

    # -- rendering --------------------------------------------------------------------------------

    def watch_detail(self, detail: RunDetail | None) -> None:
        """Show the new state everywhere."""
        if detail is None:
            return
        now = self.services.clock()
        variables = self.app.theme_variables
        self.query_one(RunSummary).show(detail, now)
        self._follow_stuck(detail)
        self.query_one(Timeline).show(detail.steps, now)
        self.query_one("#input", TabPane).query_one(JsonView).show(("input (redacted)", detail.input))
        self.query_one("#vars", TabPane).query_one(JsonView).show(("vars", detail.vars), ("output", detail.output))
        panes = {
            "waits": run_records.waits(detail, now, variables),
            "calls": run_records.invocations(detail, variables),
            "events": run_records.events(detail, now, variables),
            "audit": run_records.audit(detail, now),
            "logs": run_records.logs(detail, variables),
            "children": run_records.children(detail),
        }
        tabs = self.query_one(TabbedContent)
        for pane_id, records in panes.items():
            self.query_one(f"#{pane_id}", TabPane).query_one(RecordPane).show(records)
            title = dict(PANES)[pane_id]
            tabs.get_tab(pane_id).label = Text(f"{title} {len(records.rows)}" if records.rows else title)

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

    def action_back(self) -> None:
        """Back to where the operator came from."""
        self.app.pop_screen()

    def action_parent(self) -> None:
        """Open the parent run, if there is one."""
        parent = self.detail.parent_run_id if self.detail else None
        if parent is None:
            self.notify("This run has no parent run.", severity="warning")
            return
        self.post_message(OpenRun(parent))

    def action_copy_id(self) -> None:
        """Copy the run id to the operator's clipboard (OSC 52, so it works over SSH)."""
        self.app.copy_to_clipboard(self.run_id)
        self.notify(f"Copied run id {short_id(safe_text(self.run_id).plain)}… to the clipboard.", markup=False)

    def action_next_pane(self) -> None:
        """Show the pane to the right."""
        self._step_pane(+1)

    def action_previous_pane(self) -> None:
        """Show the pane to the left."""
        self._step_pane(-1)

    def _step_pane(self, step: int) -> None:
        tabs = self.query_one(TabbedContent)
        ids = [pane_id for pane_id, _ in PANES]
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
        """Enter on a child run opens it."""
        if self.query_one("#children", TabPane) in event.data_table.ancestors and event.row_key.value:
            event.stop()
            self.post_message(OpenRun(event.row_key.value))
