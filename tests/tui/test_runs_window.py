"""The runs list's refresh does work in proportion to the screen, not to the rows scrolled through: it re-reads
the top page and the rows on screen (by id), draws again only those, and still shows a change on screen."""

import asyncio
from typing import Any

import asyncpg
import pytest

from engine.services import runs as run_services
from studio_tui.app import RunStudioApp
from studio_tui.screens import runs as runs_module
from studio_tui.screens.runs import PAGE_SIZE, PREFETCH_ROWS, VISIBLE_MARGIN, WINDOW_ROWS, RunsScreen
from studio_tui.widgets.keyed_table import KeyedTable
from tests.tui import seed
from tests.tui.conftest import quiet, settle, studio_services

SIZE = (100, 30)


def runs_screen(app: RunStudioApp) -> RunsScreen:
    screen = app.screen
    assert isinstance(screen, RunsScreen)
    return screen


async def test_list_runs_rereads_given_ids_under_the_filter(db_pool: asyncpg.Pool, migrated_database_url: str) -> None:
    ids = await seed.seed_many(db_pool, 5)
    services = studio_services(db_pool, migrated_database_url)
    await db_pool.execute(
        'UPDATE workflow_runs SET status = \'FAILED\', error_json = \'{"category": "ActionError", '
        '"message": "no\\nmore"}\' WHERE run_id = $1',
        ids[3],
    )
    found = await run_services.list_runs(services, run_ids=[ids[3], ids[1]], limit=2)
    assert [run.run_id for run in found] == [ids[1], ids[3]]  # list order, not the order asked
    assert found[1].error_category == "ActionError" and found[1].error_line == "no"
    failed = await run_services.list_runs(services, status="FAILED", run_ids=[ids[3], ids[1]], limit=2)
    assert [run.run_id for run in failed] == [ids[3]]
    with pytest.raises(run_services.RunNotFound):
        await run_services.list_runs(services, run_ids=["not-a-run"], limit=1)


async def test_a_refresh_far_down_the_list_reads_and_draws_only_the_top_page_and_the_screen(
    db_pool: asyncpg.Pool, migrated_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = await seed.seed_many(db_pool, 450)
    app = quiet(RunStudioApp(studio_services(db_pool, migrated_database_url)))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = runs_screen(app)
        table = screen.query_one(KeyedTable)
        while table.row_count < 450:  # scroll down (End would jump to the oldest run)
            table.move_cursor(row=table.row_count - 1)
            await settle(pilot)
        assert table.row_count == 450
        table.move_cursor(row=400)
        await settle(pilot)

        asked: list[dict[str, Any]] = []
        real_list_runs = runs_module.list_runs

        async def counting_list_runs(*args: Any, **kwargs: Any) -> Any:
            asked.append(kwargs)
            return await real_list_runs(*args, **kwargs)

        drawn: list[str] = []
        real_row = RunsScreen._row

        def counting_row(self: RunsScreen, run: Any, *args: Any) -> Any:
            drawn.append(run.run_id)
            return real_row(self, run, *args)

        monkeypatch.setattr(runs_module, "list_runs", counting_list_runs)
        monkeypatch.setattr(RunsScreen, "_row", counting_row)
        # A run on screen, far below the top page, fails meanwhile.
        await db_pool.execute(
            "UPDATE workflow_runs SET status = 'FAILED', completed_at = started_at + interval '2 seconds', "
            "updated_at = now() WHERE run_id = $1",
            ids[400],
        )
        await pilot.press("r")
        await settle(pilot, until=lambda: "FAILED" in table.get_cell(ids[400], "status").plain)

        assert max(kwargs["limit"] for kwargs in asked) <= PAGE_SIZE
        by_id = [kwargs["run_ids"] for kwargs in asked if kwargs.get("run_ids")]
        assert by_id and ids[400] in by_id[0]
        on_screen = table.size.height + 2 * VISIBLE_MARGIN
        assert len(by_id[0]) <= on_screen
        assert 0 < len(set(drawn)) <= on_screen  # not the 450 rows held
        assert table.row_keys() == ids  # nothing lost or moved
        assert screen.highlighted_run_id == ids[400]


STATUSES = ("RUNNING", "WAITING", "SUCCEEDED", "FAILED", "CANCELED")


async def test_pages_before_a_run_and_from_the_end_in_every_sort(
    db_pool: asyncpg.Pool, migrated_database_url: str
) -> None:
    """``before`` is the page just before a run and ``from_end`` the last page, in list order, for every sort:
    what the window reads when it moves up and at End, without reading what lies between."""
    ids = await seed.seed_many(db_pool, 23)
    for n, run_id in enumerate(ids):
        status = STATUSES[n % 5]
        # Open runs have no end; finished ones last 0-2 s, so the duration sort has ties to break.
        await db_pool.execute(
            "UPDATE workflow_runs SET status = $2, completed_at = CASE WHEN $2 IN ('RUNNING', 'WAITING') THEN NULL "
            "ELSE started_at + make_interval(secs => $3) END WHERE run_id = $1::uuid",
            run_id,
            status,
            n % 3,
        )
    services = studio_services(db_pool, migrated_database_url)
    for sort in ("started", "status", "duration"):
        everything = [r.run_id for r in await run_services.list_runs(services, sort=sort, limit=100)]
        assert sorted(everything) == sorted(ids)
        for k, run in enumerate(await run_services.list_runs(services, sort=sort, limit=100)):
            page = await run_services.list_runs(services, sort=sort, before=run_services.cursor_of(run, sort), limit=4)
            assert [r.run_id for r in page] == everything[max(0, k - 4) : k], (sort, k)
        last = await run_services.list_runs(services, sort=sort, from_end=True, limit=5)
        assert [r.run_id for r in last] == everything[-5:], sort
        failed = await run_services.list_runs(services, sort=sort, status="FAILED", from_end=True, limit=2)
        assert [r.run_id for r in failed] == [i for i in everything if i in set(ids[3::5])][-2:], sort


def scroll_down(table: KeyedTable, rows: int) -> None:
    table.move_cursor(row=min(table.cursor_row + rows, table.row_count - 1))


async def test_scrolling_far_holds_at_most_the_window_and_reads_pages_by_keyset(
    db_pool: asyncpg.Pool, migrated_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scrolling through 1,300 runs never holds more than ``WINDOW_ROWS`` rows, reads each page once, keeps the
    cursor on its run when the window moves, and scrolling back reads the dropped rows again by keyset."""
    ids = await seed.seed_many(db_pool, 1300)
    asked: list[dict[str, Any]] = []
    real_list_runs = runs_module.list_runs

    async def counting_list_runs(*args: Any, **kwargs: Any) -> Any:
        asked.append(kwargs)
        return await real_list_runs(*args, **kwargs)

    monkeypatch.setattr(runs_module, "list_runs", counting_list_runs)
    app = quiet(RunStudioApp(studio_services(db_pool, migrated_database_url)))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = runs_screen(app)
        table = screen.query_one(KeyedTable)
        held: list[int] = []
        while screen.list_position is not None and screen.list_position < 1250:
            before = screen.highlighted_run_id
            scroll_down(table, 60)
            await settle(pilot)
            held.append(table.row_count)
            assert table.row_count == screen.rows_held <= WINDOW_ROWS
            assert screen.highlighted_run_id == ids[screen.list_position]  # the cursor's run, wherever the window is
            assert before is not None and ids.index(screen.highlighted_run_id) > ids.index(before)
        assert max(held) == WINDOW_ROWS
        assert table.row_keys() == ids[screen.list_position - table.cursor_row :][: table.row_count]
        pages = [kwargs for kwargs in asked if not kwargs.get("run_ids") and kwargs["limit"] == PAGE_SIZE]
        reads_after = [kwargs["after"] for kwargs in pages if kwargs.get("after") is not None]
        assert len(reads_after) == len(set(reads_after)) == 6  # pages 2..7 of 1,300 runs, each read once
        assert max(kwargs["limit"] for kwargs in asked) <= PAGE_SIZE

        # Back up: the rows dropped behind the cursor are read again, by keyset, a page before the window.
        asked.clear()
        while screen.list_position is not None and screen.list_position > 0:
            table.move_cursor(row=max(0, table.cursor_row - 60))
            await settle(pilot)
            assert table.row_count <= WINDOW_ROWS
            assert screen.highlighted_run_id == ids[screen.list_position]
        assert table.row_keys()[0] == ids[0] and screen.highlighted_run_id == ids[0]
        befores = [kwargs for kwargs in asked if kwargs.get("before") is not None]
        assert befores and all(kwargs["limit"] == PAGE_SIZE for kwargs in befores)


async def test_end_reads_the_oldest_run_from_the_other_end_and_home_comes_back(
    db_pool: asyncpg.Pool, migrated_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """End shows the oldest run the filter matches with one keyset read from the other end (not every page in
    between); scrolling up from there reads the page before; Home reads the top again."""
    ids = await seed.seed_many(db_pool, 1000)
    asked: list[dict[str, Any]] = []
    real_list_runs = runs_module.list_runs

    async def counting_list_runs(*args: Any, **kwargs: Any) -> Any:
        asked.append(kwargs)
        return await real_list_runs(*args, **kwargs)

    monkeypatch.setattr(runs_module, "list_runs", counting_list_runs)
    app = quiet(RunStudioApp(studio_services(db_pool, migrated_database_url)))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = runs_screen(app)
        table = screen.query_one(KeyedTable)
        asked.clear()
        await pilot.press("end")
        await settle(pilot)
        assert screen.highlighted_run_id == ids[-1]
        assert table.row_keys() == ids[-PAGE_SIZE:]
        assert [kwargs.get("from_end") for kwargs in asked if not kwargs.get("run_ids")] == [True]
        assert table.cursor_row - round(table.scroll_y) < table.size.height  # the oldest run is on screen
        await pilot.press("end")  # already at the end: nothing to read
        await settle(pilot)
        assert screen.highlighted_run_id == ids[-1]

        asked.clear()
        table.move_cursor(row=PREFETCH_ROWS - 1)
        await settle(pilot)
        assert screen.highlighted_run_id == ids[-PAGE_SIZE + PREFETCH_ROWS - 1]  # the same run, after the move
        assert table.row_keys() == ids[-2 * PAGE_SIZE :]
        assert [kwargs.get("before") is not None for kwargs in asked if not kwargs.get("run_ids")] == [True]

        await pilot.press("home")
        await settle(pilot)
        assert screen.highlighted_run_id == ids[0] and table.row_keys() == ids[:PAGE_SIZE]
        assert screen.list_position == 0


async def test_rows_far_from_the_screen_are_drawn_only_as_they_near_it(
    db_pool: asyncpg.Pool, migrated_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page of 200 runs draws the rows a page-down can reach, not all 200; page-downs draw the rows ahead of
    them, so what comes on screen was drawn before it got there."""
    ids = await seed.seed_many(db_pool, 300)
    drawn: list[str] = []
    real_row = RunsScreen._row

    def counting_row(self: RunsScreen, run: Any, *args: Any) -> Any:
        drawn.append(run.run_id)
        return real_row(self, run, *args)

    monkeypatch.setattr(RunsScreen, "_row", counting_row)
    app = quiet(RunStudioApp(studio_services(db_pool, migrated_database_url)))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = runs_screen(app).query_one(KeyedTable)
        height = table.size.height
        assert table.row_count == PAGE_SIZE
        assert len(set(drawn)) <= 3 * height < PAGE_SIZE  # the screen and a page-down's worth below it
        assert table.get_cell(ids[PAGE_SIZE - 1], "run").plain == ""  # far below: not drawn yet
        for _ in range(3):
            await pilot.press("pagedown")
            await settle(pilot)
            top = round(table.scroll_y)
            on_screen = ids[top : top + height]
            assert all(table.get_cell(run_id, "run").plain.strip() == run_id[:8] for run_id in on_screen)
        assert len(set(drawn)) < PAGE_SIZE


async def test_page_keys_pressed_before_the_next_page_arrives_are_not_lost(
    db_pool: asyncpg.Pool, migrated_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Page-downs pressed while the page below is still on its way stop at the last row held, then the cursor
    moves on as far as they asked when it arrives (a held page-down key does not stall at each page); page-ups
    past the window's first row do the same when the rows above arrive."""
    ids = await seed.seed_many(db_pool, 1300)
    pages_may_come = asyncio.Event()
    real_list_runs = runs_module.list_runs
    edge_reads: list[dict[str, Any]] = []

    async def slow_pages(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("after") is not None or kwargs.get("before") is not None:
            edge_reads.append(kwargs)
            await pages_may_come.wait()
        return await real_list_runs(*args, **kwargs)

    app = quiet(RunStudioApp(studio_services(db_pool, migrated_database_url)))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = runs_screen(app)
        table = screen.query_one(KeyedTable)
        monkeypatch.setattr(runs_module, "list_runs", slow_pages)
        await pilot.press("pagedown")
        page = table.cursor_row
        presses = PAGE_SIZE // page + 3
        for _ in range(presses - 1):
            await pilot.press("pagedown")
        assert table.cursor_row == PAGE_SIZE - 1  # held at the last row loaded while the page is on its way
        # Every key near the edge asked for the same page: it was read once, not cancelled and restarted per key.
        assert len(edge_reads) == 1
        pages_may_come.set()
        await settle(pilot, until=lambda: screen.list_position == presses * page)
        assert screen.highlighted_run_id == ids[presses * page]
        assert table.cursor_row < table.row_count - 1  # on a row of the new page, not held at its end

        # Far down, the window is cut above: page-ups past its first row wait for the page before it.
        while screen.list_position is not None and screen.list_position < 1000:
            scroll_down(table, 60)
            await settle(pilot)
        assert table.row_keys()[0] != ids[0]
        pages_may_come.clear()
        start = screen.list_position
        to_first = table.cursor_row
        presses = to_first // page + 3
        for _ in range(presses):
            await pilot.press("pageup")
        assert table.cursor_row == 0
        pages_may_come.set()
        await settle(pilot, until=lambda: screen.list_position == start - presses * page)
        assert screen.highlighted_run_id == ids[start - presses * page]
