"""Snapshots of every studio screen and state, on the seeded data with a frozen clock and Temporal down.

``snap_compare`` runs the app with ``App.run`` (a loop of its own), so these tests are synchronous and the
app opens its own pool through ``opener`` (see ``conftest``). Update with ``pytest --snapshot-update`` and
look at every changed SVG before accepting it.
"""

from collections.abc import Awaitable, Callable

from textual.pilot import Pilot

from studio_tui.app import RunStudioApp
from studio_tui.screens.run_detail import RunDetailScreen
from studio_tui.screens.runs import RunsScreen
from studio_tui.widgets.stuck_banner import ASKING
from tests.tui import seed
from tests.tui.conftest import Seeded, opener, quiet, settle

SnapCompare = Callable[..., bool]
Steps = Callable[[Pilot[None], RunStudioApp], Awaitable[None]]


def studio(seeded: Seeded, *, read_only: bool = False) -> RunStudioApp:
    return quiet(RunStudioApp(opener(seeded.url), read_only=read_only))


def runs_ready(app: RunStudioApp) -> bool:
    screen = app.screen
    return isinstance(screen, RunsScreen) and app.health.checked and screen.query_one("#runs-table").display


def scenario(*steps: Steps) -> Callable[[Pilot[None]], Awaitable[None]]:
    """A ``run_before``: wait for the runs list and the header, then do ``steps`` one by one, settling after each."""

    async def run_before(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, RunStudioApp)
        await settle(pilot, until=lambda: runs_ready(app))
        for step in steps:
            await step(pilot, app)

    return run_before


def open_run(name: str) -> Steps:
    async def step(pilot: Pilot[None], app: RunStudioApp) -> None:
        run_id = seed.run_id(name)
        app.open_run(run_id)

        def ready() -> bool:
            screen = app.screen
            if not isinstance(screen, RunDetailScreen) or screen.detail is None:
                return False
            return not screen.detail.stuck or screen.stuck_reason != ASKING

        await settle(pilot, until=ready)

    return step


def press(*keys: str) -> Steps:
    async def step(pilot: Pilot[None], app: RunStudioApp) -> None:
        await pilot.press(*keys)
        await settle(pilot)

    return step


class TestRunsList:
    def test_mixed_statuses_and_a_stuck_run(self, snap_compare: SnapCompare, seeded: Seeded) -> None:
        """Every status with its glyph, the stuck marker, the hostile workflow id as literal text, header health."""
        assert snap_compare(studio(seeded), terminal_size=(100, 30), run_before=scenario())

    def test_at_80x24(self, snap_compare: SnapCompare, seeded: Seeded) -> None:
        """The smallest supported terminal: every column and the footer still fit."""
        assert snap_compare(studio(seeded), terminal_size=(80, 24), run_before=scenario())

    def test_filtered_to_failed_in_read_only_mode(self, snap_compare: SnapCompare, seeded: Seeded) -> None:
        """Key 5 keeps only FAILED runs and highlights the filter; the header carries the READ-ONLY badge."""
        assert snap_compare(studio(seeded, read_only=True), terminal_size=(80, 24), run_before=scenario(press("5")))


class TestRunScreen:
    def test_nested_timeline(self, snap_compare: SnapCompare, seeded: Seeded) -> None:
        """if/then, forEach iterations, try/catch with the failed try step, retries #2 and #3, duration bars;
        the cursor is on the second attempt of the retried step, whose error shows underneath."""
        run_before = scenario(open_run("nested"), press(*["down"] * 19))
        assert snap_compare(studio(seeded), terminal_size=(100, 30), run_before=run_before)

    def test_nested_timeline_at_80x24(self, snap_compare: SnapCompare, seeded: Seeded) -> None:
        """The same run at the smallest size."""
        assert snap_compare(studio(seeded), terminal_size=(80, 24), run_before=scenario(open_run("nested")))

    def test_stuck_banner(self, snap_compare: SnapCompare, seeded: Seeded) -> None:
        """A RUNNING run with no step for 5 minutes: the banner, and Temporal's unavailability as the reason."""
        assert snap_compare(studio(seeded), terminal_size=(100, 30), run_before=scenario(open_run("stuck")))

    def test_untrusted_strings(self, snap_compare: SnapCompare, seeded: Seeded) -> None:
        """Markup and terminal controls in the workflow id, step id and error show literally, with stand-ins."""
        assert snap_compare(studio(seeded), terminal_size=(100, 30), run_before=scenario(open_run("hostile")))

    def test_untrusted_input_pane(self, snap_compare: SnapCompare, seeded: Seeded) -> None:
        """The redacted input of the hostile run: JSON-escaped C0 controls, C1 replaced, password redacted."""
        run_before = scenario(open_run("hostile"), press("right_square_bracket"))
        assert snap_compare(studio(seeded), terminal_size=(100, 30), run_before=run_before)

    def test_children_pane(self, snap_compare: SnapCompare, seeded: Seeded) -> None:
        """A parent run's child runs, one Enter away."""
        run_before = scenario(open_run("parent"), press("left_square_bracket"))
        assert snap_compare(studio(seeded), terminal_size=(80, 24), run_before=run_before)


class TestHelp:
    def test_help_on_the_runs_screen(self, snap_compare: SnapCompare, seeded: Seeded) -> None:
        """``?`` lists the runs screen's keys (status filters included) and what the symbols mean."""
        assert snap_compare(studio(seeded), terminal_size=(80, 24), run_before=scenario(press("question_mark")))
