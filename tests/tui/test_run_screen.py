"""Pilot tests of the run screen: the stuck banner, copying the id, parent and child runs, panes, refresh."""

import base64
import dataclasses
from collections.abc import Callable
from datetime import timedelta

import asyncpg
from textual.widgets import Static, TabbedContent

from studio_tui.app import RunStudioApp
from studio_tui.screens.run_detail import RunDetailScreen
from studio_tui.screens.runs import RunsScreen
from studio_tui.widgets.keyed_table import KeyedTable
from studio_tui.widgets.run_summary import RunSummary
from studio_tui.widgets.stuck_banner import ASKING, StuckBanner
from tests.tui import seed
from tests.tui.conftest import loaded, quiet, run_screen, settle, studio_services

AppFactory = Callable[..., RunStudioApp]


def banner_text(app: RunStudioApp) -> str:
    return str(run_screen(app).query_one(StuckBanner).content)


async def test_the_stuck_banner_shows_for_a_stuck_run_with_the_reason(studio_app: AppFactory) -> None:
    app = studio_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        stuck = seed.run_id("stuck")
        app.open_run(stuck)
        await settle(pilot, until=lambda: loaded(app, stuck)() and run_screen(app).stuck_reason != ASKING)
        banner = run_screen(app).query_one(StuckBanner)
        assert banner.display
        text = banner_text(app)
        assert "QUEUED, NOT RUNNING" in text
        assert stuck[:8] in text
        # Temporal is unreachable in this test, and the banner says exactly that instead of guessing.
        assert "Why: Temporal cannot be asked why" in text
        assert "127.0.0.1:1" in text


async def test_no_banner_for_a_healthy_running_run(studio_app: AppFactory) -> None:
    app = studio_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        running = seed.run_id("running")
        app.open_run(running)
        await settle(pilot, until=loaded(app, running))
        screen = run_screen(app)
        assert screen.detail is not None and screen.detail.status == "RUNNING"
        assert not screen.query_one(StuckBanner).display


async def test_c_copies_the_run_id_through_the_terminal_clipboard(studio_app: AppFactory) -> None:
    app = studio_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        nested = seed.run_id("nested")
        app.open_run(nested)
        await settle(pilot, until=loaded(app, nested))
        driver = app._driver
        assert driver is not None
        written: list[str] = []
        write = driver.write

        def recording_write(data: str) -> None:
            written.append(data)
            write(data)

        driver.write = recording_write  # type: ignore[method-assign]
        await pilot.press("c")
        await settle(pilot)
        assert app.clipboard == nested
        osc52 = "\x1b]52;c;" + base64.b64encode(nested.encode()).decode() + "\a"
        assert osc52 in written
        assert any("Copied run id" in str(note.message) for note in app._notifications)


async def test_parent_and_child_runs_are_one_key_away(studio_app: AppFactory) -> None:
    app = studio_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        parent, child = seed.run_id("parent"), seed.run_id("child")
        app.open_run(parent)
        await settle(pilot, until=loaded(app, parent))
        await pilot.press("left_square_bracket")  # wraps round to the last pane: children
        await settle(pilot)
        assert run_screen(app).query_one(TabbedContent).active == "children"
        await pilot.press("enter")
        await settle(pilot, until=loaded(app, child))
        detail = run_screen(app).detail
        assert detail is not None and detail.parent_run_id == parent
        await pilot.press("p")
        await settle(pilot, until=loaded(app, parent))
        await pilot.press("p")
        await settle(pilot)
        assert any("no parent run" in str(note.message) for note in app._notifications)
        # Parent and child replaced each other on the stack: one escape is back at the list.
        assert sum(isinstance(screen, RunDetailScreen) for screen in app.screen_stack) == 1
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, RunsScreen)


async def test_panes_show_the_records_of_the_run(studio_app: AppFactory) -> None:
    app = studio_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        nested = seed.run_id("nested")
        app.open_run(nested)
        await settle(pilot, until=loaded(app, nested))
        screen = run_screen(app)
        tabs = screen.query_one(TabbedContent)
        labels = {pane: str(tabs.get_tab(pane).label) for pane in ("calls", "events", "audit", "logs", "waits")}
        assert labels == {
            "calls": "Calls 1",
            "events": "Events 1",
            "audit": "Audit 1",
            "logs": "Logs 1",
            "waits": "Waits",
        }
        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert tabs.active == "input"
        input_text = str(screen.query_one("#input").query_one(Static).content)
        assert '"apiToken": "[REDACTED]"' in input_text and "tok-123456" not in input_text


async def test_an_unfinished_run_refreshes_itself(studio_app: AppFactory, seeded_pool: asyncpg.Pool) -> None:
    app = studio_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        running = seed.run_id("running")
        app.open_run(running)
        await settle(pilot, until=loaded(app, running))
        await seed.insert_step(
            seeded_pool,
            running,
            3,
            "root.steps[1].body[0]",
            "echo-line",
            "action.call",
            "STARTED",
            seed.ago(2),
            None,
            iteration="0",
        )
        table = run_screen(app).query_one("#timeline-table", KeyedTable)
        await settle(pilot, until=lambda: len(table.row_keys()) == 4, timeout=8)
        assert table.get_row(table.row_keys()[-1])[0].plain.strip() == "● echo-line"


async def test_relative_times_move_on_while_the_run_does_not(
    seeded_pool: asyncpg.Pool, migrated_database_url: str
) -> None:
    now = [seed.NOW]
    services = dataclasses.replace(studio_services(seeded_pool, migrated_database_url), clock=lambda: now[0])
    app = quiet(RunStudioApp(services))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        waiting = seed.run_id("waiting")
        app.open_run(waiting)
        await settle(pilot, until=loaded(app, waiting))
        summary = run_screen(app).query_one(RunSummary)
        assert "running for 3h00m" in str(summary.content)
        now[0] = seed.NOW + timedelta(minutes=5)
        await settle(pilot, until=lambda: "running for 3h05m" in str(summary.content), timeout=8)
