"""Snapshots of the live runs list (issue 13): the why column, the "↑ N new" marker and a ``:`` filter, at
80×24 and 120×40. Review a changed SVG's text before accepting it (``--snapshot-update``)."""

from textual.pilot import Pilot

from studio_tui.app import RunStudioApp
from studio_tui.screens.runs import RunsScreen
from studio_tui.widgets.keyed_table import KeyedTable
from tests.tui import seed
from tests.tui.conftest import Seeded, settle
from tests.tui.test_snapshots import SnapCompare, Steps, press, scenario, studio, with_inbox

SMALL = (80, 24)
LARGE = (120, 40)


def arrive(count: int) -> Steps:
    """``count`` new runs are written (as another shell would start them), then the list refreshes."""

    async def step(pilot: Pilot[None], app: RunStudioApp) -> None:
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        for n in range(count):
            run = seed.Run(f"arrived-{n}", "echo-chain", "RUNNING", seed.ago(count - n), step_count=1)
            await seed.insert_run(screen.services.pool, run)
        await pilot.press("r")
        await settle(pilot, until=lambda: screen.query_one("#runs-table", KeyedTable).row_count >= 13 + count)

    return step


def command(text: str, *, submit: bool = True) -> Steps:
    async def step(pilot: Pilot[None], app: RunStudioApp) -> None:
        await pilot.press("colon")
        await pilot.press(*text)
        if submit:
            await pilot.press("enter")
        await settle(pilot)

    return step


class TestRunsListWhy:
    def test_why_column_at_120x40(self, snap_compare: SnapCompare, seeded: Seeded) -> None:
        """Errors with their category, the task title, the event name and key, the timer's end, the step a
        running run is in and the stuck reason — the hostile error shown literally."""
        assert snap_compare(studio(with_inbox(seeded)), terminal_size=LARGE, run_before=scenario())

    def test_why_column_at_80x24(self, snap_compare: SnapCompare, seeded: Seeded) -> None:
        """At 80 columns trigger and steps give way; the why column stays, truncated with an ellipsis."""
        assert snap_compare(studio(with_inbox(seeded)), terminal_size=SMALL, run_before=scenario())


class TestRunsListNewRuns:
    def test_new_runs_marker_at_80x24(self, snap_compare: SnapCompare, seeded: Seeded) -> None:
        """The cursor is on the third run; three runs arrive above it: it stays on its run, "↑ 3 new" shows."""
        run_before = scenario(press("down", "down"), arrive(3))
        assert snap_compare(studio(seeded), terminal_size=SMALL, run_before=run_before)

    def test_new_runs_marker_at_120x40(self, snap_compare: SnapCompare, seeded: Seeded) -> None:
        run_before = scenario(press("down", "down"), arrive(3))
        assert snap_compare(studio(seeded), terminal_size=LARGE, run_before=run_before)

    def test_new_runs_at_the_top_at_80x24(self, snap_compare: SnapCompare, seeded: Seeded) -> None:
        """The cursor is on the first row: the three new runs are the first rows and the cursor is on the newest."""
        assert snap_compare(studio(seeded), terminal_size=SMALL, run_before=scenario(arrive(3)))


class TestRunsListCommands:
    def test_typing_a_command_at_80x24(self, snap_compare: SnapCompare, seeded: Seeded) -> None:
        """``:`` opens the command line above the footer."""
        run_before = scenario(command("since 15m", submit=False))
        assert snap_compare(studio(seeded), terminal_size=SMALL, run_before=run_before)

    def test_filtered_and_sorted_by_commands_at_80x24(self, snap_compare: SnapCompare, seeded: Seeded) -> None:
        """``:since 1h`` then ``:sort duration``: the filters show after the search box."""
        run_before = scenario(command("since 1h"), command("sort duration"))
        assert snap_compare(studio(seeded), terminal_size=SMALL, run_before=run_before)

    def test_filtered_by_commands_at_120x40(self, snap_compare: SnapCompare, seeded: Seeded) -> None:
        """``:wf ECHO`` fills the search box with ``wf:ECHO`` and matches echo-chain in any case; ``:status
        running`` keeps the stuck one."""
        run_before = scenario(command("wf ECHO"), command("status running"))
        assert snap_compare(studio(seeded), terminal_size=LARGE, run_before=run_before)
