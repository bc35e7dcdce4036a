"""The runs list's refresh does work in proportion to the screen, not to the rows scrolled through: it re-reads
the top page and the rows on screen (by id), draws again only those, and still shows a change on screen."""

from typing import Any

import asyncpg
import pytest

from engine.services import runs as run_services
from studio_tui.app import RunStudioApp
from studio_tui.screens import runs as runs_module
from studio_tui.screens.runs import PAGE_SIZE, VISIBLE_MARGIN, RunsScreen
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
        for _ in range(3):
            await pilot.press("end")
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
