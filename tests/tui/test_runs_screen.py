"""Pilot tests of the runs screen: open, filter, search, page, and refresh without losing the cursor."""

from collections.abc import Callable

import asyncpg
from textual.pilot import Pilot
from textual.widgets import Static

from engine.services.runs import list_runs
from studio_tui.app import RunStudioApp
from studio_tui.screens.run_detail import RunDetailScreen
from studio_tui.screens.runs import PAGE_SIZE, RunsScreen, cursor_of
from studio_tui.widgets.keyed_table import KeyedTable
from tests.tui import seed
from tests.tui.conftest import quiet, settle, studio_services

AppFactory = Callable[..., RunStudioApp]


def runs_screen(app: RunStudioApp) -> RunsScreen:
    screen = app.screen
    assert isinstance(screen, RunsScreen)
    return screen


def shown_runs(app: RunStudioApp) -> list[str]:
    return runs_screen(app).query_one(KeyedTable).row_keys()


def count_line(app: RunStudioApp) -> str:
    return str(runs_screen(app).query_one("#runs-count", Static).content)


async def type_search(pilot: Pilot[None], text: str) -> None:
    await pilot.press("slash")
    await pilot.press(*text)
    await settle(pilot)


async def test_enter_opens_the_highlighted_run_with_its_steps(studio_app: AppFactory) -> None:
    app = studio_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        nested = seed.run_id("nested")
        table = runs_screen(app).query_one(KeyedTable)
        table.move_cursor(row=shown_runs(app).index(nested))
        await pilot.press("enter")
        await settle(pilot, until=lambda: isinstance(app.screen, RunDetailScreen) and app.screen.detail is not None)
        screen = app.screen
        assert isinstance(screen, RunDetailScreen)
        assert screen.run_id == nested
        steps = screen.query_one("#timeline-table", KeyedTable)
        step_ids = [steps.get_row(key)[0].plain.strip() for key in steps.row_keys()]
        assert "✗ explode" in step_ids and "✓ recover" in step_ids and "▸ iteration 2" in step_ids
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, RunsScreen)
        assert runs_screen(app).highlighted_run_id == nested


async def test_status_keys_filter_the_table(studio_app: AppFactory) -> None:
    app = studio_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        everything = shown_runs(app)
        assert len(everything) == 13
        await pilot.press("5")
        await settle(pilot)
        assert set(shown_runs(app)) == {seed.run_id("nested"), seed.run_id("hostile")}
        assert runs_screen(app).status_filter == "FAILED"
        await pilot.press("2")
        await settle(pilot)
        assert set(shown_runs(app)) == {seed.run_id("stuck"), seed.run_id("running")}
        await pilot.press("1")
        await settle(pilot)
        assert shown_runs(app) == everything


async def test_search_by_run_id_prefix_and_by_workflow_id(studio_app: AppFactory) -> None:
    app = studio_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        waiting = seed.run_id("waiting")
        await type_search(pilot, waiting[:6].upper())
        assert shown_runs(app) == [waiting]
        await pilot.press("escape")
        await settle(pilot)
        assert len(shown_runs(app)) == 13
        await type_search(pilot, "echo-chain")
        echo = {seed.run_id("stuck"), *(seed.run_id(f"echo-{n}") for n in range(1, 5))}
        assert set(shown_runs(app)) == echo
        await pilot.press("enter")  # back to the table, search kept
        await settle(pilot)
        assert isinstance(app.focused, KeyedTable)
        assert set(shown_runs(app)) == echo
        await type_search(pilot, "-nothing")
        assert shown_runs(app) == []
        assert runs_screen(app).query_one("#runs-empty", Static).display


async def test_the_next_keyset_page_loads_when_the_cursor_nears_the_end(
    db_pool: asyncpg.Pool, migrated_database_url: str
) -> None:
    ids = await seed.seed_many(db_pool, 450)
    app = quiet(RunStudioApp(studio_services(db_pool, migrated_database_url)))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert shown_runs(app) == ids[:PAGE_SIZE]
        await pilot.press("end")
        await settle(pilot, until=lambda: len(shown_runs(app)) > PAGE_SIZE)
        assert shown_runs(app) == ids[: 2 * PAGE_SIZE]
        # A refresh of the first page's worth that was already under way when the second page came in,
        # and a second page answering an end of the list that has since moved, change nothing.
        screen = runs_screen(app)
        top = await list_runs(screen.services, limit=PAGE_SIZE)
        stale_page = await list_runs(screen.services, after=cursor_of(top[-1]), limit=PAGE_SIZE)
        screen.post_message(RunsScreen.Loaded(screen.query_filters, top, "refresh", PAGE_SIZE))
        screen.post_message(RunsScreen.Loaded(screen.query_filters, stale_page, "more", PAGE_SIZE, cursor_of(top[-1])))
        await settle(pilot)
        assert shown_runs(app) == ids[: 2 * PAGE_SIZE]
        await pilot.press("end")
        await settle(pilot, until=lambda: len(shown_runs(app)) == len(ids))
        assert shown_runs(app) == ids
        assert count_line(app) == "450 runs"


async def test_refresh_keeps_the_cursor_on_the_same_run_when_new_runs_arrive(
    studio_app: AppFactory, seeded_pool: asyncpg.Pool
) -> None:
    app = studio_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("down", "down", "down")
        await settle(pilot)
        screen = runs_screen(app)
        table = screen.query_one(KeyedTable)
        chosen = screen.highlighted_run_id
        assert chosen is not None and table.cursor_row == 3
        for name, seconds in (("new-1", 2), ("new-2", 1)):
            await seed.insert_run(seeded_pool, seed.Run(name, "echo-chain", "RUNNING", seed.ago(seconds), step_count=1))
        # No key pressed: the periodic refresh brings them in.
        await settle(pilot, until=lambda: len(shown_runs(app)) == 15, timeout=8)
        assert shown_runs(app)[:2] == [seed.run_id("new-2"), seed.run_id("new-1")]
        assert screen.highlighted_run_id == chosen
        assert table.cursor_row == 5


async def test_a_failing_database_is_reported_and_the_rows_stay(
    studio_app: AppFactory, seeded_pool: asyncpg.Pool
) -> None:
    app = studio_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        before = shown_runs(app)
        await seeded_pool.close()
        await pilot.press("r")
        await settle(pilot)
        # The error has its own line under the filter bar; the count line keeps counting.
        problem = runs_screen(app).query_one("#runs-problem", Static)
        assert problem.display and "pool is closed" in str(problem.content)
        assert str(problem.content).startswith("⚠")
        assert count_line(app) == f"{len(before)} runs"
        assert shown_runs(app) == before


async def test_refresh_keeps_a_scrolled_row_at_the_same_place_on_screen(
    db_pool: asyncpg.Pool, migrated_database_url: str
) -> None:
    ids = await seed.seed_many(db_pool, 300)
    app = quiet(RunStudioApp(studio_services(db_pool, migrated_database_url)))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        table = runs_screen(app).query_one(KeyedTable)
        table.move_cursor(row=100)
        await settle(pilot)
        offset = table.cursor_row - round(table.scroll_y)
        assert table.scroll_y > 0
        for n in range(3):
            await seed.insert_run(db_pool, seed.Run(f"newer-{n}", "echo-chain", "RUNNING", seed.NOW, step_count=1))
        await settle(pilot, until=lambda: shown_runs(app)[0] != ids[0], timeout=8)
        assert runs_screen(app).highlighted_run_id == ids[100]
        assert table.cursor_row == 103
        assert table.cursor_row - round(table.scroll_y) == offset
