"""Issue 13's small truths in the studio: footers keep Help and Quit and follow the focus, read-only help
lists only what works, exports land in the exports folder, form errors speak JSON, and the header's worker
count is current. Real Postgres throughout; real Temporal and a real worker for the header."""

import asyncio
from collections.abc import Callable
from pathlib import Path

import asyncpg
from rich.text import Text
from temporalio import workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker
from textual.pilot import Pilot
from textual.widgets import Static, TextArea
from textual.widgets._footer import FooterKey

from engine.services.context import ServiceContext
from engine.stack import Endpoints
from engine.temporal import TASK_QUEUE
from engine.temporal.client import POLLER_FRESHNESS
from studio_tui.app import WORKERS_SECONDS, RunStudioApp
from studio_tui.screens.bulk_cancel import BulkCancelScreen
from studio_tui.screens.help import HelpScreen
from studio_tui.screens.inbox import InboxScreen
from studio_tui.screens.replay_modal import ReplayModal
from studio_tui.screens.run_detail import RunDetailScreen
from studio_tui.screens.runs import RunsScreen
from studio_tui.screens.task_response_modal import TaskResponseModal
from studio_tui.widgets.keyed_table import KeyedTable
from tests.tui import seed, seed_inbox
from tests.tui.conftest import quiet, settle, studio_services

AppFactory = Callable[..., RunStudioApp]


def footer(app: RunStudioApp) -> dict[str, FooterKey]:
    """The footer's keys by action."""
    return {key.action: key for key in app.screen.query(FooterKey)}


def footer_labels(app: RunStudioApp) -> dict[str, str]:
    """What the footer says each shown key does, by key."""
    return {key.key: key.description for key in app.screen.query(FooterKey)}


def assert_shown(app: RunStudioApp, actions: tuple[str, ...], width: int, height: int) -> None:
    """``actions``' keys are on the bottom line, inside the terminal, and nothing is drawn over them."""
    keys = footer(app)
    for action in actions:
        assert action in keys, f"{type(app.screen).__name__}: no {action} in {sorted(keys)}"
        region = keys[action].region
        assert region.width > 0 and region.x >= 0 and region.right <= width, (type(app.screen).__name__, region)
        assert region.y == height - 1
        for other, key in keys.items():
            if other != action and key.display and key.region.width:
                assert not region.overlaps(key.region), (type(app.screen).__name__, action, other)


def assert_help_and_quit_shown(app: RunStudioApp, width: int, height: int) -> None:
    """A screen's footer keeps Help and Quit."""
    assert_shown(app, ("help", "quit"), width, height)


def assert_way_back_shown(app: RunStudioApp, width: int, height: int) -> None:
    """A modal's footer keeps its way back (q and ? belong to the screen under it; q may be typed in an editor)."""
    assert_shown(app, ("back" if "back" in footer(app) else "close",), width, height)


def help_text(app: RunStudioApp) -> str:
    screen = app.screen
    assert isinstance(screen, HelpScreen)
    return "\n".join(str(static.content) for static in screen.query(Static) if isinstance(static.content, Text | str))


async def open_seeded_run(pilot: Pilot[None], app: RunStudioApp, name: str) -> RunDetailScreen:
    app.open_run(seed.run_id(name))
    await settle(pilot, until=lambda: isinstance(app.screen, RunDetailScreen) and app.screen.detail is not None)
    screen = app.screen
    assert isinstance(screen, RunDetailScreen)
    return screen


# -- footers ------------------------------------------------------------------------------------------


async def test_every_footer_keeps_help_and_quit_at_80x24(studio_app: AppFactory, seeded_pool: asyncpg.Pool) -> None:
    await seed_inbox.seed_inbox(seeded_pool)
    app = studio_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, RunsScreen)
        assert_help_and_quit_shown(app, 80, 24)
        await pilot.press("question_mark")
        await settle(pilot, until=lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("escape")
        await pilot.press("space", "X")
        await settle(pilot, until=lambda: isinstance(app.screen, BulkCancelScreen))
        assert_way_back_shown(app, 80, 24)
        await pilot.press("escape")
        await settle(pilot)
        # The busiest footer: a WAITING run offers replay, cancel, event, task, export and panes.
        await open_seeded_run(pilot, app, "waiting")
        assert {"replay", "cancel_run", "export"} <= footer(app).keys()
        assert_help_and_quit_shown(app, 80, 24)
        await pilot.press("R")
        await settle(pilot, until=lambda: isinstance(app.screen, ReplayModal))
        assert_way_back_shown(app, 80, 24)
        await pilot.press("escape")
        await settle(pilot)
        app.action_open_inbox()
        await settle(
            pilot, until=lambda: isinstance(app.screen, InboxScreen) and app.screen.highlighted_task is not None
        )
        assert_help_and_quit_shown(app, 80, 24)
        await pilot.press("enter")
        await settle(pilot, until=lambda: isinstance(app.screen, TaskResponseModal))
        assert_way_back_shown(app, 80, 24)


async def test_the_inbox_footer_follows_the_focused_list(studio_app: AppFactory, seeded_pool: asyncpg.Pool) -> None:
    await seed_inbox.seed_inbox(seeded_pool)
    app = studio_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await settle(
            pilot, until=lambda: isinstance(app.screen, InboxScreen) and app.screen.highlighted_task is not None
        )
        inbox = app.screen
        assert isinstance(inbox, InboxScreen)
        assert inbox.query_one("#tasks-table", KeyedTable).has_focus
        assert footer_labels(app)["enter"] == "Respond"
        await pilot.press("tab")
        await settle(pilot)
        assert inbox.query_one("#waiting-table", KeyedTable).has_focus
        assert footer_labels(app)["enter"] == "Open run"
        await pilot.press("shift+tab")
        await settle(pilot)
        assert footer_labels(app)["enter"] == "Respond"
        # Back from the response modal, the task list still has the focus and enter still responds.
        await pilot.press("enter")
        await settle(pilot, until=lambda: isinstance(app.screen, TaskResponseModal))
        await pilot.press("escape")
        await settle(pilot, until=lambda: app.screen is inbox)
        assert footer_labels(app)["enter"] == "Respond"


async def test_read_only_inbox_footer_opens_the_task_run(studio_app: AppFactory, seeded_pool: asyncpg.Pool) -> None:
    await seed_inbox.seed_inbox(seeded_pool)
    app = studio_app(read_only=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await settle(
            pilot, until=lambda: isinstance(app.screen, InboxScreen) and app.screen.highlighted_task is not None
        )
        assert footer_labels(app)["enter"] == "Open run"
        assert "Respond" not in footer_labels(app).values()


# -- help ---------------------------------------------------------------------------------------------


async def test_read_only_help_lists_only_what_works(studio_app: AppFactory) -> None:
    app = studio_app(read_only=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot, until=lambda: isinstance(app.screen, HelpScreen))
        runs_help = help_text(app)
        await pilot.press("escape")
        await open_seeded_run(pilot, app, "waiting")
        await pilot.press("question_mark")
        await settle(pilot, until=lambda: isinstance(app.screen, HelpScreen))
        run_help = help_text(app)
    for gone in ("Mark", "Bulk cancel", "space marks", "▣"):
        assert gone not in runs_help, gone
    for gone in ("Replay", "Cancel run", "Send event", "Complete task", "R replays", "x cancels", "v sends"):
        assert gone not in run_help, gone
    assert "read-only" in run_help
    assert "e exports the run" in run_help and "$RUNSTUDIO_HOME/exports" in run_help
    assert "current directory" not in run_help


async def test_writable_help_still_explains_the_mutating_keys(studio_app: AppFactory) -> None:
    app = studio_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await open_seeded_run(pilot, app, "waiting")
        await pilot.press("question_mark")
        await settle(pilot, until=lambda: isinstance(app.screen, HelpScreen))
        text = help_text(app)
    assert "R replays the run" in text and "x cancels" in text and "▣" in text
    assert "read-only" not in text.splitlines()[0]


# -- export -------------------------------------------------------------------------------------------


async def test_the_export_toast_names_the_absolute_path_in_the_output_dir(
    seeded_pool: asyncpg.Pool, migrated_database_url: str, tmp_path: Path
) -> None:
    exports = tmp_path / "exports"
    app = quiet(RunStudioApp(studio_services(seeded_pool, migrated_database_url), exports_dir=exports))
    async with app.run_test(size=(100, 30)) as pilot:
        await open_seeded_run(pilot, app, "parent")
        await pilot.press("e")
        await settle(pilot, until=lambda: any(str(n.message).startswith("Exported to ") for n in app._notifications))
        message = next(str(n.message) for n in app._notifications if str(n.message).startswith("Exported to "))
    files = list(exports.glob(f"run-{seed.run_id('parent')}-*.json"))
    assert len(files) == 1
    assert message == f"Exported to {files[0]}"
    assert Path(message.removeprefix("Exported to ")).is_absolute()


# -- form errors ----------------------------------------------------------------------------------------


async def test_a_form_error_speaks_json(studio_app: AppFactory, seeded_pool: asyncpg.Pool) -> None:
    ids = await seed_inbox.seed_inbox(seeded_pool)
    app = studio_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await settle(
            pilot, until=lambda: isinstance(app.screen, InboxScreen) and app.screen.highlighted_task is not None
        )
        inbox = app.screen
        assert isinstance(inbox, InboxScreen)
        table = inbox.query_one("#tasks-table", KeyedTable)
        table.move_cursor(row=table.row_keys().index(ids["refund"]))
        await pilot.press("enter")
        await settle(pilot, until=lambda: isinstance(app.screen, TaskResponseModal))
        modal = app.screen
        assert isinstance(modal, TaskResponseModal)
        modal.query_one(TextArea).text = '{"approved": null}'
        await pilot.press("ctrl+s")
        await settle(pilot, until=lambda: "rejected" in problems_text(app))
        text = problems_text(app)
    assert 'null is not of type "boolean"' in text
    assert "None" not in text


def problems_text(app: RunStudioApp) -> str:
    screen = app.screen
    if not isinstance(screen, TaskResponseModal):
        return ""
    return str(screen.query_one("#task-state", Static).content)


# -- the header's worker count ----------------------------------------------------------------------------


async def test_the_header_shows_a_stopped_worker_within_ten_seconds(
    private_temporal: WorkflowEnvironment, seeded_pool: asyncpg.Pool, migrated_database_url: str
) -> None:
    address = private_temporal.client.service_client.config.target_host
    services = ServiceContext(
        pool=seeded_pool,
        endpoints=Endpoints(migrated_database_url, address, "default"),
        tenant=seed.TENANT,
        clock=seed.frozen_clock,
        _client=private_temporal.client,
    )
    app = quiet(RunStudioApp(services))

    def header() -> str:
        return str(app.screen.query_one("#header-health", Static).content)

    async with app.run_test(size=(120, 40)) as pilot:
        worker = Worker(
            private_temporal.client,
            task_queue=TASK_QUEUE,
            workflows=[_Idle],
            workflow_runner=UnsandboxedWorkflowRunner(),
        )
        async with worker:
            await wait_for(pilot, lambda: "✓ 1 worker" in header(), timeout=30)
        stopped = asyncio.get_running_loop().time()
        await wait_for(pilot, lambda: "✗ 0 workers" in header(), timeout=30)
        took = asyncio.get_running_loop().time() - stopped
        shown = header()
    assert took <= POLLER_FRESHNESS.total_seconds() + WORKERS_SECONDS + 1, f"took {took:.1f} s"
    assert app.health.workers == 0 and app.health.workers_last_seen is not None
    assert f"(last poll {app.health.workers_last_seen:%H:%M:%S}Z)" in shown


async def wait_for(pilot: Pilot[None], condition: Callable[[], bool], *, timeout: float) -> None:
    """Let the app run (its timers included) until ``condition`` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("timed out")
        await pilot.pause(0.2)


@workflow.defn(name="studio-header-probe")
class _Idle:
    @workflow.run
    async def run(self) -> None:
        return None
