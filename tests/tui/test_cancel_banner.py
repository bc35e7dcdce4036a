"""Pilot tests of a pending cancel in the studio: the run screen's banner and the runs list's marker."""

from collections.abc import Callable
from datetime import timedelta

import asyncpg
from textual.pilot import Pilot

from studio_tui.app import RunStudioApp
from studio_tui.screens.run_detail import RunDetailScreen
from studio_tui.screens.runs import RunsScreen
from studio_tui.widgets.cancel_banner import CANCEL_PENDING_MARK, CancelBanner
from studio_tui.widgets.keyed_table import KeyedTable
from tests.tui import seed
from tests.tui.conftest import settle

AppFactory = Callable[..., RunStudioApp]


async def request_cancel(pool: asyncpg.Pool, name: str, by: str) -> None:
    """Record a cancel Temporal accepted 90 s before the frozen clock, as ``cancel_run`` does."""
    await pool.execute(
        "UPDATE workflow_runs SET cancel_requested_at = $3, cancel_requested_by = $4 WHERE tenant = $1 AND run_id = $2",
        seed.TENANT,
        seed.run_id(name),
        seed.NOW - timedelta(seconds=90),
        by,
    )


def status_cell(app: RunStudioApp, run_id: str) -> str:
    screen = app.screen
    assert isinstance(screen, RunsScreen)
    table = screen.query_one(KeyedTable)
    return "".join(cell.plain for cell in table.get_row(run_id))


async def open_run(app: RunStudioApp, pilot: Pilot[None], run_id: str) -> RunDetailScreen:
    app.open_run(run_id)

    def loaded() -> bool:
        screen = app.screen
        return isinstance(screen, RunDetailScreen) and screen.run_id == run_id and screen.detail is not None

    await settle(pilot, until=loaded)
    screen = app.screen
    assert isinstance(screen, RunDetailScreen)
    return screen


async def test_a_pending_cancel_is_marked_in_the_list_and_bannered_on_the_run(
    studio_app: AppFactory, seeded_pool: asyncpg.Pool
) -> None:
    # The user name is untrusted: an escape sequence and markup in it must be shown inert.
    await request_cancel(seeded_pool, "running", "oncall\x1b[31m[b]x[/b]")
    await request_cancel(seeded_pool, "canceled", "oncall")  # over: nothing is pending any more
    app = studio_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        running, canceled, waiting = (seed.run_id(n) for n in ("running", "canceled", "waiting"))

        assert f"RUNNING {CANCEL_PENDING_MARK}" in status_cell(app, running)
        assert CANCEL_PENDING_MARK not in status_cell(app, canceled)
        assert CANCEL_PENDING_MARK not in status_cell(app, waiting)

        screen = await open_run(app, pilot, running)
        banner = screen.query_one(CancelBanner)
        assert banner.display
        text = str(banner.content)
        assert (
            "cancel requested at 2025-06-02 09:28:30 UTC by oncall␛[31m[b]x[/b] — waiting for a worker to unwind it"
            in text
        ), text
        assert "\x1b" not in text

        await pilot.press("escape")
        await settle(pilot)
        screen = await open_run(app, pilot, canceled)
        assert not screen.query_one(CancelBanner).display


async def test_no_banner_without_a_cancel_request(studio_app: AppFactory) -> None:
    app = studio_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        screen = await open_run(app, pilot, seed.run_id("waiting"))
        assert not screen.query_one(CancelBanner).display
