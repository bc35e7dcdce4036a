"""Pilot tests of the runs screen: open, filter, search, page, refresh without losing the cursor, the why
column, new runs above the cursor, flashing status changes and the ``:`` command line."""

from collections.abc import Callable

import asyncpg
from textual.pilot import Pilot
from textual.widgets import Input, Static

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
        assert count_line(app) == "450 runs"  # counted at once, not "200+" until the end is reached
        table = runs_screen(app).query_one(KeyedTable)
        table.move_cursor(row=table.row_count - 1)  # scrolling down (End jumps to the oldest run)
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
        table.move_cursor(row=table.row_count - 1)
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


def cell(app: RunStudioApp, name: str, column: str) -> str:
    return runs_screen(app).query_one(KeyedTable).get_cell(seed.run_id(name), column).plain.strip()


async def test_search_is_a_case_insensitive_workflow_prefix_and_enter_opens_the_first_match(
    studio_app: AppFactory,
) -> None:
    app = studio_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        for text in ("time", "TIMER"):
            await type_search(pilot, text)
            assert shown_runs(app) == [seed.run_id("canceled")]
            await pilot.press("escape")
            await settle(pilot)
        # Enter straight after typing, before the debounced search has answered: it opens the match anyway.
        await pilot.press("slash", *"NESTED", "enter")
        await settle(pilot, until=lambda: isinstance(app.screen, RunDetailScreen))
        screen = app.screen
        assert isinstance(screen, RunDetailScreen) and screen.run_id == seed.run_id("nested")


async def test_the_why_column_says_what_each_run_is_doing(studio_app: AppFactory, seeded_pool: asyncpg.Pool) -> None:
    await seeded_pool.execute(
        """INSERT INTO workflow_tasks (tenant, task_id, run_id, seq, step_path, task_type, title, status)
           VALUES ($1, gen_random_uuid(), $2, 1, 'root.steps[0]', 'approval', 'Approve refund [b]now[/b]', 'OPEN')""",
        seed.TENANT,
        seed.run_id("waiting"),
    )
    app = studio_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert cell(app, "waiting", "why") == "task: Approve refund [b]now[/b]"  # shown literally, not as markup
        assert cell(app, "nested", "why") == "ActionError: ledger rejected the batch"
        assert cell(app, "canceled", "why") == "Canceled: canceled by ana"
        assert cell(app, "running", "why") == "▸ loop"
        assert cell(app, "stuck", "why") == "⚠ stuck: no step for 5m"
        assert cell(app, "echo-1", "why") == ""
        hostile = cell(app, "hostile", "why")
        assert hostile.startswith("ActionError: ") and "\x1b" not in hostile and "[bold]" in hostile


async def test_new_runs_appear_above_a_cursor_on_the_first_row_and_it_stays_at_the_top(
    studio_app: AppFactory, seeded_pool: asyncpg.Pool
) -> None:
    app = studio_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        screen = runs_screen(app)
        table = screen.query_one(KeyedTable)
        assert table.cursor_row == 0
        for n in range(3):
            await seed.insert_run(
                seeded_pool, seed.Run(f"top-{n}", "echo-chain", "RUNNING", seed.ago(3 - n), step_count=1)
            )
        await pilot.press("r")
        await settle(pilot, until=lambda: len(shown_runs(app)) == 16)
        assert shown_runs(app)[:3] == [seed.run_id(f"top-{n}") for n in (2, 1, 0)]
        assert table.cursor_row == 0 and screen.highlighted_run_id == seed.run_id("top-2")
        assert table.scroll_y == 0
        assert screen.new_above == 0 and not screen.query_one("#new-runs").display
        assert count_line(app) == "16 runs"


async def test_new_runs_above_a_lower_cursor_are_counted_and_t_goes_to_them(
    studio_app: AppFactory, seeded_pool: asyncpg.Pool
) -> None:
    app = studio_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("down", "down")
        await settle(pilot)
        screen = runs_screen(app)
        chosen = screen.highlighted_run_id
        for n in range(3):
            await seed.insert_run(
                seeded_pool, seed.Run(f"top-{n}", "echo-chain", "RUNNING", seed.ago(3 - n), step_count=1)
            )
        await pilot.press("r")
        await settle(pilot, until=lambda: len(shown_runs(app)) == 16)
        assert screen.highlighted_run_id == chosen and screen.query_one(KeyedTable).cursor_row == 5
        marker = screen.query_one("#new-runs", Static)
        assert screen.new_above == 3 and marker.display
        assert str(marker.render()).startswith(" ↑ 3 new")
        await pilot.press("r")  # another refresh with nothing new keeps the count
        await settle(pilot)
        assert screen.new_above == 3
        await pilot.press("t")
        await settle(pilot)
        assert screen.query_one(KeyedTable).cursor_row == 0 and screen.highlighted_run_id == seed.run_id("top-2")
        assert screen.new_above == 0 and not marker.display


async def test_a_run_whose_status_changed_is_highlighted_briefly(
    studio_app: AppFactory, seeded_pool: asyncpg.Pool
) -> None:
    app = studio_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        running = seed.run_id("running")
        await seeded_pool.execute(
            "UPDATE workflow_runs SET status = 'SUCCEEDED', completed_at = started_at + interval '3 s' "
            "WHERE tenant = $1 AND run_id = $2",
            seed.TENANT,
            running,
        )
        await pilot.press("r")
        screen = runs_screen(app)
        await settle(pilot, until=lambda: bool(screen.flashing))
        assert screen.flashing == {running}
        status = screen.query_one(KeyedTable).get_cell(running, "status")
        assert "SUCCEEDED" in status.plain and any(span.style == "reverse" for span in status.spans)
        assert count_line(app) == "13 runs"
        await pilot.pause(3.3)
        await settle(pilot)
        assert screen.flashing == set()
        status = screen.query_one(KeyedTable).get_cell(running, "status")
        assert not any(span.style == "reverse" for span in status.spans)


async def run_command(pilot: Pilot[None], command: str) -> None:
    await pilot.press("colon")
    await pilot.press(*command)
    await pilot.press("enter")
    await settle(pilot)


async def test_the_command_line_filters_and_sorts(studio_app: AppFactory) -> None:
    app = studio_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        screen = runs_screen(app)
        await run_command(pilot, "status failed")
        assert screen.status_filter == "FAILED"
        assert set(shown_runs(app)) == {seed.run_id("nested"), seed.run_id("hostile")}
        await run_command(pilot, "status all")
        await run_command(pilot, "since 15m")
        assert set(shown_runs(app)) == {seed.run_id(n) for n in ("stuck", "running", "nested")}
        assert "since 15m" in str(screen.query_one("#runs-query", Static).render())
        await run_command(pilot, "stuck")
        assert shown_runs(app) == [seed.run_id("stuck")]
        await run_command(pilot, "clear")
        await run_command(pilot, "wf ECHO")
        assert screen.query_one("#search", Input).value == "wf:ECHO"
        assert set(shown_runs(app)) == {seed.run_id("stuck"), *(seed.run_id(f"echo-{n}") for n in range(1, 5))}
        await run_command(pilot, "trigger replay")
        assert shown_runs(app) == []
        await run_command(pilot, "clear")
        assert screen.query_one("#search", Input).value == ""
        await run_command(pilot, "sort duration")
        # Open runs first, the oldest of them first; then finished runs, longest first.
        assert shown_runs(app)[:3] == [seed.run_id(n) for n in ("waiting", "stuck", "running")]
        assert shown_runs(app)[3] == seed.run_id("canceled")  # 90 s, the longest finished run
        before = shown_runs(app)
        await run_command(pilot, "since soon")
        assert shown_runs(app) == before
        assert any("not an ISO time" in n.message for n in app._notifications)
        await run_command(pilot, "frobnicate")
        assert any("unknown command 'frobnicate'" in n.message for n in app._notifications)
        assert isinstance(app.focused, KeyedTable)


async def test_the_first_runs_to_arrive_in_an_empty_list_take_the_keys(
    db_pool: asyncpg.Pool, migrated_database_url: str
) -> None:
    app = quiet(RunStudioApp(studio_services(db_pool, migrated_database_url)))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert runs_screen(app).query_one("#runs-empty", Static).display
        await seed.publish(db_pool, seed.example("echo_chain"))
        for n in range(2):
            await seed.insert_run(db_pool, seed.Run(f"first-{n}", "echo-chain", "RUNNING", seed.ago(2 - n)))
        await pilot.press("r")
        await settle(pilot, until=lambda: len(shown_runs(app)) == 2)
        assert isinstance(app.focused, KeyedTable)
        await pilot.press("down")
        assert runs_screen(app).highlighted_run_id == seed.run_id("first-0")
