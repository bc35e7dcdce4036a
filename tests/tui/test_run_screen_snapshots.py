"""Snapshots of the completed run screen at 80×24 and 120×40: waits with filters and a failed condition, event
outcomes, children and replays with the breadcrumb, and the send-event editor. Seeded data, frozen clock,
Temporal down; update with ``--snapshot-update`` only after looking at every changed SVG."""

import pytest

from engine.store.db import connect
from tests.tui.conftest import Seeded
from tests.tui.seed_run_screen import seed_run_screen
from tests.tui.test_snapshots import SnapCompare, open_run, press, scenario, studio

SIZES = pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])


@pytest.fixture
async def screen_seeded(seeded: Seeded) -> Seeded:
    """The standard studio data plus the run-screen runs."""
    conn = await connect(seeded.url)
    try:
        await seed_run_screen(conn)
    finally:
        await conn.close()
    return seeded


def pane(count: int) -> tuple[str, ...]:
    """``]`` pressed ``count`` times: from the timeline to the pane ``count`` to the right."""
    return ("right_square_bracket",) * count


@SIZES
def test_waits_with_filters_and_a_failed_condition(
    snap_compare: SnapCompare, screen_seeded: Seeded, size: tuple[int, int]
) -> None:
    """WAITING on ticket.approved T-1001 where amount > 100; an event of amount 50 did not match."""
    run_before = scenario(open_run("approval"), press(*pane(3)))
    assert snap_compare(studio(screen_seeded), terminal_size=size, run_before=run_before)


@SIZES
def test_events_say_delivered_and_did_not_match(
    snap_compare: SnapCompare, screen_seeded: Seeded, size: tuple[int, int]
) -> None:
    run_before = scenario(open_run("approval"), press(*pane(5)))
    assert snap_compare(studio(screen_seeded), terminal_size=size, run_before=run_before)


@SIZES
def test_a_resolved_wait_shows_no_timeout(
    snap_compare: SnapCompare, screen_seeded: Seeded, size: tuple[int, int]
) -> None:
    run_before = scenario(open_run("approved"), press(*pane(3)))
    assert snap_compare(studio(screen_seeded), terminal_size=size, run_before=run_before)


@SIZES
def test_children_with_status_workflow_and_duration(
    snap_compare: SnapCompare, screen_seeded: Seeded, size: tuple[int, int]
) -> None:
    run_before = scenario(open_run("parent"), press("left_square_bracket"))
    assert snap_compare(studio(screen_seeded), terminal_size=size, run_before=run_before)


@SIZES
def test_children_with_status_and_the_trail_after_opening_one(
    snap_compare: SnapCompare, screen_seeded: Seeded, size: tuple[int, int]
) -> None:
    """The parent's Children pane, Enter on the child, then the child's own screen with the trail."""
    run_before = scenario(open_run("parent"), press("left_square_bracket"), press("enter"))
    assert snap_compare(studio(screen_seeded), terminal_size=size, run_before=run_before)


@SIZES
def test_replays_of_an_original(snap_compare: SnapCompare, screen_seeded: Seeded, size: tuple[int, int]) -> None:
    """``o`` on a replay opens its original, whose Replays pane lists it."""
    run_before = scenario(open_run("nested"), press("o"), press("left_square_bracket", "left_square_bracket"))
    assert snap_compare(studio(screen_seeded), terminal_size=size, run_before=run_before)


@SIZES
def test_send_event_editor(snap_compare: SnapCompare, screen_seeded: Seeded, size: tuple[int, int]) -> None:
    """``v`` on a run waiting for an event: name and key prefilled, the payload editor, its state line."""
    run_before = scenario(open_run("approval"), press("v"))
    assert snap_compare(studio(screen_seeded), terminal_size=size, run_before=run_before)
