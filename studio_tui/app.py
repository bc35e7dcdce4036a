"""``RunStudioApp``: the studio's shell. It owns the services, the health check and navigation between screens."""

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Final

from rich.text import Text
from textual import work
from textual.actions import parse
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.dom import DOMNode
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Static

from engine.services.context import ServiceContext
from studio_tui.commands import StudioCommands
from studio_tui.failures import failure_text
from studio_tui.health import Health, health_from_checks, keep_workers, with_workers
from studio_tui.messages import OpenRun
from studio_tui.sanitize import safe_text
from studio_tui.screens.help import HelpScreen
from studio_tui.screens.runs import RunsScreen

if TYPE_CHECKING:  # imported on first use (see ``_open_run``)
    from studio_tui.screens.run_detail import RunDetailScreen

ServicesOpener = Callable[[], AbstractAsyncContextManager[ServiceContext]]
"""Opens the services inside the app's own event loop (and closes them when the app ends)."""

HEALTH_SECONDS: Final = 10.0
"""How often the header's health is checked (each check opens a connection to Postgres and to Temporal)."""

WORKERS_SECONDS: Final = 2.0
"""How often the header asks Temporal who polls the task queue (one RPC on the open client).

With ``POLLER_FRESHNESS`` (10 s) this shows a dead worker as "✗ 0 workers" within about 12 s of its death."""

HEALTH_AT_THE_LATEST: Final = 2.0
"""Seconds after the runs screen opens when the health check starts even if the first page has not arrived."""

WARM_UP_MODULES: Final = ("studio_tui.screens.run_detail", "studio_tui.screens.inbox")
"""Imported on a thread after the first paint: they are not needed for it, and would delay it."""

MUTATING_ACTIONS: Final = frozenset({"bulk_cancel"})
"""App actions (palette entries) that change runs: refused in read-only mode."""


class RunStudioApp(App[None]):
    """The studio. Give it open services, or a way to open them in the loop the app runs in.

    A ``ServiceContext`` must belong to the running event loop (``runstudio tui`` opens it and awaits
    ``run_async`` in the same loop). When something else starts the loop (``App.run`` uses ``asyncio.run``),
    pass a ``ServicesOpener`` instead: the app opens the services on startup and closes them on exit.
    """

    CSS_PATH = "app.tcss"
    TITLE = "Run Studio"
    COMMANDS = App.COMMANDS | {StudioCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
        Binding("S", "open_schedules", "Schedules", key_display="S", show=False),
    ]

    health: reactive[Health] = reactive(Health)
    """Database, Temporal and worker health, refreshed every ``HEALTH_SECONDS``."""

    class ServicesOpened(Message):
        """The services from a ``ServicesOpener`` are ready."""

        def __init__(self, services: ServiceContext) -> None:
            self.services = services
            super().__init__()

    class ServicesFailed(Message):
        """Opening the services failed; the studio cannot show anything."""

        def __init__(self, error: str) -> None:
            self.error = error
            super().__init__()

    def __init__(
        self, services: ServiceContext | ServicesOpener, *, read_only: bool = False, exports_dir: Path | None = None
    ) -> None:
        super().__init__()
        self.read_only = read_only
        """Watching production: every mutating control is hidden and refused."""
        self.exports_dir = exports_dir
        """Where ``e`` writes exports (``--output-dir``); ``None``: ``$RUNSTUDIO_HOME/exports``."""
        self._opener = None if isinstance(services, ServiceContext) else services
        self._services = services if isinstance(services, ServiceContext) else None
        self._exit_stack = AsyncExitStack()
        self._health_started = False

    @property
    def services(self) -> ServiceContext:
        """The open services (only screens shown after startup use them)."""
        if self._services is None:
            raise RuntimeError("the services are not open yet")
        return self._services

    def compose(self) -> ComposeResult:
        """Under every screen: what the studio is doing before the runs appear."""
        yield Static("Opening the services…", id="startup", markup=False)

    def on_mount(self) -> None:
        """Start at once with open services, or open them first."""
        if self._services is not None:
            self._start(self._services)
        else:
            self._open_services()

    async def on_unmount(self) -> None:
        """Close what the app opened itself (never a ``ServiceContext`` it was given)."""
        await self._exit_stack.aclose()

    @work(exclusive=True, exit_on_error=False, group="services")
    async def _open_services(self) -> None:
        assert self._opener is not None
        try:
            services = await self._exit_stack.enter_async_context(self._opener())
        except Exception as exc:
            self.post_message(self.ServicesFailed(failure_text(exc)))
            return
        self.post_message(self.ServicesOpened(services))

    def on_run_studio_app_services_opened(self, message: ServicesOpened) -> None:
        """Show the runs."""
        self._services = message.services
        self._start(message.services)

    def on_run_studio_app_services_failed(self, message: ServicesFailed) -> None:
        """Say why nothing can be shown."""
        text = Text("Cannot open the services: ", style="bold")
        text.append_text(safe_text(message.error))
        text.append("\nPress q to quit.")
        self.query_one("#startup", Static).update(text)

    def _start(self, services: ServiceContext) -> None:
        # The first page is one Postgres query. The health check dials Temporal (loading its SDK first), which
        # would hold the event loop while that page waits to be painted, so it starts once the rows are on
        # screen (or the first load failed, or at the latest after HEALTH_AT_THE_LATEST).
        self.push_screen(RunsScreen(services, read_only=self.read_only))
        self.set_timer(HEALTH_AT_THE_LATEST, self._start_health)

    def on_runs_screen_loaded(self, message: RunsScreen.Loaded) -> None:
        """The first page is in the table: once it is painted, the header's health fills in."""
        if not self._health_started and message.mode == "first":
            self.screen.call_after_refresh(self._start_health)

    def on_runs_screen_load_failed(self, _: RunsScreen.LoadFailed) -> None:
        """No rows to wait for: the health check says what is down."""
        self._start_health()

    def _start_health(self) -> None:
        if self._health_started:
            return
        self._health_started = True
        self._check_health()
        self.set_interval(HEALTH_SECONDS, self._check_health)
        self.set_interval(WORKERS_SECONDS, self._poll_workers)
        self._warm_up()

    @work(thread=True, exit_on_error=False, group="warm-up")
    def _warm_up(self) -> None:
        # The screens opened from the list load in the background once it is up, so the first enter is quick.
        for module in WARM_UP_MODULES:
            import_module(module)

    def _poll_workers(self) -> None:
        # Only while the full check found Temporal: an unreachable one is not dialled every 2 s as well.
        if self.health.temporal:
            self._check_workers()

    @work(exclusive=True, exit_on_error=False, group="health")
    async def _check_health(self) -> None:
        from engine.services.doctor import run_checks

        services = self.services
        try:
            checks = await run_checks(services.endpoints, tenant=services.tenant, now=services.clock)
        except Exception as exc:
            self.health = Health(problem=failure_text(exc, services.endpoints))
            return
        self.health = keep_workers(health_from_checks(checks), self.health)

    @work(exclusive=True, exit_on_error=False, group="workers")
    async def _check_workers(self) -> None:
        # Only the worker count: Temporal's poller list on the already open client, on its own faster timer.
        from engine.services.health import worker_presence

        try:
            presence = await worker_presence(self.services)
        except Exception:
            # The full check says why Temporal cannot be asked; until it does, the count is unknown.
            presence = None
        self.health = with_workers(self.health, presence)

    # -- navigation -------------------------------------------------------------------------------

    def on_open_run(self, message: OpenRun) -> None:
        """A screen asked to show a run."""
        self.open_run(message.run_id)

    _run_screen: "RunDetailScreen | None" = None
    """The run screen, composed once and given each run (composing one per run was most of opening a run)."""

    def open_run(self, run_id: str) -> None:
        """Show ``run_id`` on top of the current screen (escape comes back)."""
        self._open_run(run_id)

    @work(exclusive=True, exit_on_error=False, group="open-run")
    async def _open_run(self, run_id: str) -> None:
        # Screens after the first load on first use: this one alone brings JSONata, jsonschema and re2,
        # none of which the list of runs needs to appear.
        from studio_tui.screens.run_detail import RunDetailScreen, read_first

        # The run is read (one page of steps: milliseconds) while the list is still on screen, so the run screen
        # is laid out and drawn once, with the run, rather than once empty and again when the run arrives.
        detail = await read_first(self.services, run_id)
        kept = self._run_screen
        if kept is not None and any(kept in stack for stack in self._screen_stacks.values()):
            # The kept screen is under another one (a run opened from a screen over it): a screen of its own.
            self.push_screen(RunDetailScreen(self.services, run_id, read_only=self.read_only, detail=detail))
            return
        if kept is None:
            kept = RunDetailScreen(self.services, run_id, read_only=self.read_only, detail=detail)
            # Installed, so popping it (escape) keeps it composed for the next run instead of removing it.
            self.install_screen(kept, name="run-detail")
            self._run_screen = kept
        else:
            kept.show_run(run_id, detail=detail)
        self.push_screen(kept)

    def _runs_screen(self) -> RunsScreen | None:
        """Pop back to the runs screen and return it (``None`` while the services are still opening)."""
        while not isinstance(self.screen, RunsScreen) and len(self.screen_stack) > 1:
            self.pop_screen()
        return self.screen if isinstance(self.screen, RunsScreen) else None

    def action_go_runs(self) -> None:
        """Back to the list of runs."""
        self._runs_screen()

    def action_filter(self, status: str | None) -> None:
        """The runs list, showing only ``status`` (``None``: all)."""
        screen = self._runs_screen()
        if screen is not None:
            screen.status_filter = status

    def action_search(self) -> None:
        """The runs list, with the cursor in the search box."""
        screen = self._runs_screen()
        if screen is not None:
            screen.action_focus_search()

    def action_open_inbox(self) -> None:
        """Open human tasks and waiting runs (over the runs list, so escape comes back to it)."""
        from studio_tui.screens.inbox import InboxScreen

        if isinstance(self.screen, InboxScreen):
            return
        if self._runs_screen() is not None:
            self.push_screen(InboxScreen(self.services, read_only=self.read_only))

    def action_open_schedules(self) -> None:
        """Open the schedules (over the runs list, so escape comes back to it)."""
        from studio_tui.screens.schedules import SchedulesScreen

        if isinstance(self.screen, SchedulesScreen):
            return
        if self._runs_screen() is not None:
            self.push_screen(SchedulesScreen(self.services, read_only=self.read_only))

    def action_bulk_cancel(self) -> None:
        """The runs list's bulk cancel: the marked runs, or every run matching its filter."""
        screen = self._runs_screen()
        if screen is not None:
            screen.action_bulk_cancel()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Mutating app actions do not exist in read-only mode (whichever way they are reached)."""
        return not (self.read_only and action in MUTATING_ACTIONS)

    def _palette_binding(self) -> Binding:
        return Binding(self.COMMAND_PALETTE_BINDING, "command_palette", "Command palette")

    def action_help(self) -> None:
        """Keys of the current screen (its own and the app's), and what the symbols mean."""
        from studio_tui.screens.inbox import InboxScreen
        from studio_tui.screens.run_detail import RunDetailScreen

        screen = self.screen
        if isinstance(screen, HelpScreen):
            return
        # Only the bindings this studio declares (not Textual's generic focus and copy keys), and of those only
        # the ones the screen allows now (read-only mode has no mutating keys). A key bound twice is listed once.
        declared = [*getattr(type(screen), "BINDINGS", []), *self.BINDINGS, self._palette_binding()]
        keys: list[tuple[str, str]] = []
        for binding in declared:
            if not isinstance(binding, Binding) or not binding.description or not self._allowed(binding, screen):
                continue
            # The footer shows space as ␣ to fit 80 columns; the help has room to spell it out.
            shown = "space" if binding.key == "space" else self.get_key_display(binding)
            key = (shown, binding.description)
            if key not in keys:
                keys.append(key)
        titles = {RunsScreen: "runs", RunDetailScreen: "run", InboxScreen: "inbox"}
        self.push_screen(
            HelpScreen(titles.get(type(screen), "studio"), keys, self._help_notes(screen), read_only=self.read_only)
        )

    def _help_notes(self, screen: Screen[object]) -> tuple[str, ...]:
        """The screen's ``HELP_NOTES``; in read-only mode its ``READ_ONLY_HELP_NOTES`` when it has them.

        Notes are prose about keys (replay, cancel, …): a screen whose notes describe mutating keys declares the
        read-only version, so the help never explains a key that is not there.
        """
        if self.read_only:
            read_only: tuple[str, ...] | None = getattr(type(screen), "READ_ONLY_HELP_NOTES", None)
            if read_only is not None:
                return read_only
        notes: tuple[str, ...] = getattr(type(screen), "HELP_NOTES", ())
        return notes

    def _allowed(self, binding: Binding, screen: Screen[object]) -> bool:
        """Whether ``binding``'s action is allowed now (``check_action`` of the screen or, for ``app.``, the app's)."""
        namespace, name, parameters = parse(binding.action)
        target: DOMNode = self if namespace == "app" else screen
        return target.check_action(name, parameters) is not False
