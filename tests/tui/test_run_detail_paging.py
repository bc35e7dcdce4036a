"""The run screen reads a long run's steps a page at a time: the first paint reads one page, and scrolling the
timeline reads the rest, so every step stays reachable (counted in rows fetched, never timed)."""

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from textual.widgets import TabbedContent

from engine.store import steps as step_store
from studio_tui.app import RunStudioApp
from studio_tui.screens.run_detail import STEPS_PAGE
from studio_tui.widgets.keyed_table import KeyedTable
from studio_tui.widgets.timeline import Timeline
from tests.tui import seed
from tests.tui.conftest import loaded, run_screen, settle

AppFactory = Callable[..., RunStudioApp]

LONG_RUN = "00000000-0000-4000-8000-000000000500"
LONG_RUN_STEPS = 500


async def seed_long_run(pool: asyncpg.Pool) -> None:
    """A finished run of ``LONG_RUN_STEPS`` steps, one attempt each."""
    started = seed.NOW - timedelta(hours=1)
    await pool.execute(
        """INSERT INTO workflow_runs (tenant, run_id, workflow_id, workflow_version, status, trigger, started_at,
                                      updated_at, completed_at, step_count, definition_hash)
           VALUES ($1, $2::uuid, 'wf-long', 1, 'SUCCEEDED', 'manual', $3::timestamptz, $3,
                   $3::timestamptz + interval '10 minutes', $4, repeat('b', 64))""",
        seed.TENANT,
        LONG_RUN,
        started,
        LONG_RUN_STEPS,
    )
    await pool.execute(
        """INSERT INTO workflow_run_steps (tenant, run_id, seq, path, step_id, step_type, status, started_at,
                                           completed_at, duration_ms)
           SELECT $1, $2::uuid, s, 'root.steps[' || s || ']', 'step-' || s, 'action.call', 'SUCCEEDED',
                  $3::timestamptz + s * interval '1 second',
                  $3::timestamptz + s * interval '1 second' + interval '200 ms', 200
             FROM generate_series(1, $4) AS s""",
        seed.TENANT,
        LONG_RUN,
        started,
        LONG_RUN_STEPS,
    )


class RowsFetched:
    """Counts the step rows the store hands out (and whether anything read every step at once)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.rows = 0
        self.pages = 0
        self.whole_run_reads = 0
        page, whole = step_store.steps_page, step_store.steps

        async def counted_page(*args: Any, **kwargs: Any) -> list[step_store.StepRow]:
            got = await page(*args, **kwargs)
            self.rows += len(got)
            self.pages += 1
            return got

        async def counted_whole(*args: Any, **kwargs: Any) -> list[step_store.StepRow]:
            got = await whole(*args, **kwargs)
            self.rows += len(got)
            self.whole_run_reads += 1
            return got

        monkeypatch.setattr(step_store, "steps_page", counted_page)
        monkeypatch.setattr(step_store, "steps", counted_whole)


@pytest.fixture
async def long_run(seeded_pool: asyncpg.Pool) -> str:
    await seed_long_run(seeded_pool)
    return LONG_RUN


async def test_the_first_paint_of_a_500_step_run_reads_one_page_of_steps(
    studio_app: AppFactory, long_run: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = studio_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        fetched = RowsFetched(monkeypatch)
        app.open_run(long_run)
        await settle(pilot, until=loaded(app, long_run))
        screen = run_screen(app)
        table = screen.query_one(Timeline).query_one(KeyedTable)
        # One page (and the one row past it that says more follow), not the run's 500 steps.
        assert fetched.whole_run_reads == 0
        assert (fetched.pages, fetched.rows) == (1, STEPS_PAGE + 1)
        assert table.row_count == STEPS_PAGE
        assert screen.detail is not None and screen.detail.steps_more
        # The panes not shown have no widgets yet: only the timeline was composed for the first paint.
        assert [pane for pane in ("input", "vars", "waits", "calls") if screen.query(f"#{pane} > *")] == []


async def test_scrolling_the_timeline_reaches_step_500(
    studio_app: AppFactory, long_run: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = studio_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        fetched = RowsFetched(monkeypatch)
        app.open_run(long_run)
        await settle(pilot, until=loaded(app, long_run))
        table = run_screen(app).query_one(Timeline).query_one(KeyedTable)
        table.focus()
        for _ in range(LONG_RUN_STEPS // STEPS_PAGE + 2):
            await pilot.press("end")
            await settle(pilot)
            if table.row_count == LONG_RUN_STEPS:
                break
        assert table.row_count == LONG_RUN_STEPS
        assert table.row_keys()[-1] == f"step|root.steps[{LONG_RUN_STEPS}]|None|1"
        detail = run_screen(app).detail
        assert detail is not None and not detail.steps_more
        # Every row read once, one page at a time (each page reads one row past its end).
        assert fetched.whole_run_reads == 0
        assert fetched.pages == LONG_RUN_STEPS // STEPS_PAGE
        assert fetched.rows <= LONG_RUN_STEPS + fetched.pages


async def test_a_redraw_while_a_pane_is_being_mounted_waits_for_its_widgets(
    studio_app: AppFactory, long_run: str
) -> None:
    """The relative-time redraw runs on its own timer: one that fires while a pane shown for the first time is
    still composing its widgets must not look for them (CI once crashed here, on the Events pane)."""
    app = studio_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.open_run(long_run)
        await settle(pilot, until=loaded(app, long_run))
        screen = run_screen(app)
        tabs = screen.query_one(TabbedContent)
        for pane_id in ("input", "vars", "waits", "calls", "events", "audit", "logs"):
            tabs.active = pane_id
            # Every turn of the loop lets the mount move one step on; each redraw lands somewhere inside it.
            for _ in range(40):
                screen._redraw()
                await asyncio.sleep(0)
            await settle(pilot)
            assert screen.query(f"#{pane_id} > *"), pane_id
