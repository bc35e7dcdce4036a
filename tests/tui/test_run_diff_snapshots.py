"""Snapshots of the diff screen at 80×24 and 120×40: a replay against its original (steps, input with a replaced
secret, vars with a hostile key). Seeded data, frozen clock, Temporal down; update with ``--snapshot-update``
only after looking at every changed SVG."""

import asyncio

import pytest
from textual.pilot import Pilot

from engine.store.db import connect
from studio_tui.app import RunStudioApp
from studio_tui.screens.run_diff import RunDiffScreen
from studio_tui.widgets.keyed_table import KeyedTable
from tests.tui.conftest import Seeded, settle
from tests.tui.seed_run_diff import seed_run_diff
from tests.tui.test_snapshots import SnapCompare, Steps, press, scenario, studio

SIZES = pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])


@pytest.fixture
def diff_seeded(seeded: Seeded) -> tuple[Seeded, str]:
    """The standard studio data plus the diff pair; the replay's id.

    Snapshot tests are synchronous and no loop runs while they do, so the seeding gets a loop of its own.
    """

    async def go() -> str:
        conn = await connect(seeded.url)
        try:
            return (await seed_run_diff(conn))[1]
        finally:
            await conn.close()

    return seeded, asyncio.run(go())


def diff_of_replay(replay: str) -> Steps:
    """Put the cursor on the replay and press d; wait for the comparison."""

    async def step(pilot: Pilot[None], app: RunStudioApp) -> None:
        table = app.screen.query_one("#runs-table", KeyedTable)
        table.move_cursor(row=table.row_keys().index(replay))
        await pilot.press("d")

        def ready() -> bool:
            screen = app.screen
            return isinstance(screen, RunDiffScreen) and screen.diff is not None

        await settle(pilot, until=ready)

    return step


@SIZES
def test_steps_of_a_replay_that_took_the_other_branch(
    snap_compare: SnapCompare, diff_seeded: tuple[Seeded, str], size: tuple[int, int]
) -> None:
    """Both runs with status and error, "B replays A (edited payload)", the counts; the steps aligned by path:
    the else step removed and the then step added in place, the retried page step "#2"; the cursor on the
    changed finish step, whose detail says "status, error differ" and B's error."""
    seeded, replay = diff_seeded
    run_before = scenario(diff_of_replay(replay), press("down", "down", "down", "down"))
    assert snap_compare(studio(seeded), terminal_size=size, run_before=run_before)


@SIZES
def test_input_with_a_replaced_secret(
    snap_compare: SnapCompare, diff_seeded: tuple[Seeded, str], size: tuple[int, int]
) -> None:
    """input.password "changed secret" with placeholders on both sides; the SSN left as is is no difference."""
    seeded, replay = diff_seeded
    run_before = scenario(diff_of_replay(replay), press("right_square_bracket"))
    assert snap_compare(studio(seeded), terminal_size=size, run_before=run_before)


def test_vars_with_a_hostile_key(snap_compare: SnapCompare, diff_seeded: tuple[Seeded, str]) -> None:
    """A vars key written as markup is quoted and shown literally; removed and changed vars beside it."""
    seeded, replay = diff_seeded
    run_before = scenario(diff_of_replay(replay), press("right_square_bracket", "right_square_bracket"))
    assert snap_compare(studio(seeded), terminal_size=(120, 40), run_before=run_before)
