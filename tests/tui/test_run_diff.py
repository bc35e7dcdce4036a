"""The diff screen from the keyboard: ``d`` on a replay row, on two marked runs, on the run screen of a replay,
and the notifications when there is nothing to compare. Redacted values only; untrusted text stays text."""

from collections.abc import Callable

import asyncpg
import pytest
from textual.pilot import Pilot

from studio_tui.app import RunStudioApp
from studio_tui.screens.run_diff import RunDiffScreen
from studio_tui.screens.runs import RunsScreen
from studio_tui.widgets.keyed_table import KeyedTable
from tests.tui import seed
from tests.tui.conftest import loaded, settle
from tests.tui.seed_run_diff import HOSTILE_KEY, HOSTILE_VALUE, NEW_SECRET, OLD_SECRET, SSN, seed_run_diff

AppFactory = Callable[..., RunStudioApp]


@pytest.fixture
async def pair(seeded_pool: asyncpg.Pool) -> tuple[str, str]:
    """The standard studio data plus the diff pair (original, replay)."""
    async with seeded_pool.acquire() as conn:
        return await seed_run_diff(conn)


def screen_text(app: RunStudioApp) -> str:
    return "\n".join("".join(segment.text for segment in strip) for strip in app.screen._compositor.render_strips())


async def on_row(pilot: Pilot[None], app: RunStudioApp, run_id: str) -> None:
    """Wait for the runs list, then put its cursor on ``run_id``."""
    await settle(pilot, until=lambda: isinstance(app.screen, RunsScreen) and bool(app.screen._runs))
    table = app.screen.query_one("#runs-table", KeyedTable)
    table.move_cursor(row=table.row_keys().index(run_id))
    await settle(pilot)


def diff_shown(app: RunStudioApp) -> Callable[[], bool]:
    def check() -> bool:
        screen = app.screen
        return isinstance(screen, RunDiffScreen) and (screen.diff is not None or screen.problem is not None)

    return check


async def test_d_on_a_replay_row_compares_it_with_its_original(studio_app: AppFactory, pair: tuple[str, str]) -> None:
    original, replay = pair
    app = studio_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await on_row(pilot, app, replay)
        await pilot.press("d")
        await settle(pilot, until=diff_shown(app))
        screen = app.screen
        assert isinstance(screen, RunDiffScreen) and screen.diff is not None
        assert (screen.diff.a.run_id, screen.diff.b.run_id) == (original, replay)
        text = screen_text(app)
        assert f"runs › diff {original[:8]} → {replay[:8]}" in text
        assert "B replays A (edited payload)" in text
        rows = {line.split()[2]: line.split() for line in text.splitlines() if " root.steps[" in line}
        assert rows["root.steps[0].else[0]"] == ["−", "removed", "root.steps[0].else[0]", "queue", "✓", "5", "ms", "—"]
        assert rows["root.steps[0].then[0]"][:5] == ["+", "added", "root.steps[0].then[0]", "page", "—"]
        assert " ✗ #2 250 ms" in text  # the page step: two attempts, their durations summed
        await pilot.press("down", "down", "down", "down")
        await settle(pilot)
        text = screen_text(app)
        assert "root.steps[2] finish (control.if): status, error differ" in text
        assert "B FAILED 30 ms  ActionError: escalation refused" in text

        await pilot.press("right_square_bracket")
        await settle(pilot)
        text = screen_text(app)
        assert "~ changed secret  input.password" in text
        assert '"[REDACTED]"' in text
        assert "the edited replay replaced the secret at $.password" in text
        for secret in (OLD_SECRET, NEW_SECRET, SSN):
            assert secret not in text

        await pilot.press("right_square_bracket")
        await settle(pilot)
        text = screen_text(app)
        assert f"vars.{HOSTILE_KEY}" not in text  # not an identifier: quoted, and shown literally
        assert f'vars["{HOSTILE_KEY}"]' in text and HOSTILE_VALUE in text
        assert app.is_running  # the [@click=app.quit] value was not a link

        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, RunsScreen)


async def test_d_on_two_marked_runs_compares_the_earlier_with_the_later(
    studio_app: AppFactory, pair: tuple[str, str]
) -> None:
    original, replay = pair
    app = studio_app()
    async with app.run_test(size=(120, 40)) as pilot:
        for run_id in (replay, original):
            await on_row(pilot, app, run_id)
            await pilot.press("space")
        await pilot.press("d")
        await settle(pilot, until=diff_shown(app))
        screen = app.screen
        assert isinstance(screen, RunDiffScreen) and screen.diff is not None
        assert (screen.diff.a.run_id, screen.diff.b.run_id) == (original, replay)


async def test_two_marked_runs_of_different_workflows_say_why_they_are_not_compared(
    studio_app: AppFactory, pair: tuple[str, str]
) -> None:
    app = studio_app()
    async with app.run_test(size=(120, 40)) as pilot:
        for run_id in (pair[0], seed.run_id("parent")):
            await on_row(pilot, app, run_id)
            await pilot.press("space")
        await pilot.press("d")
        await settle(pilot, until=diff_shown(app))
        assert isinstance(app.screen, RunDiffScreen) and app.screen.diff is None
        assert "⚠ cannot compare:" in screen_text(app)
        assert "runs of different workflows are not compared" in screen_text(app)


async def test_d_without_a_replay_or_two_marks_says_what_it_needs(
    studio_app: AppFactory, pair: tuple[str, str]
) -> None:
    app = studio_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await on_row(pilot, app, pair[0])
        await pilot.press("d")
        await settle(pilot)
        assert isinstance(app.screen, RunsScreen)
        messages = [n.message for n in app._notifications]
        assert messages[-1] == (
            "d compares a replay with its original, or two runs marked with space; this run is not a replay."
        )
        await pilot.press("space")
        await pilot.press("d")
        await settle(pilot)
        last = [n.message for n in app._notifications][-1]
        assert last == "1 run is marked: mark exactly two to compare them (u clears the marks)."
        assert isinstance(app.screen, RunsScreen)


async def test_read_only_d_on_a_replay_and_on_another_run(studio_app: AppFactory, pair: tuple[str, str]) -> None:
    app = studio_app(read_only=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await on_row(pilot, app, pair[0])
        await pilot.press("d")
        await settle(pilot)
        assert [n.message for n in app._notifications][-1] == (
            "d compares a replay with its original; this run is not a replay."
        )
        await on_row(pilot, app, pair[1])
        await pilot.press("d")
        await settle(pilot, until=diff_shown(app))
        assert isinstance(app.screen, RunDiffScreen) and app.screen.diff is not None


async def test_d_on_the_run_screen_of_a_replay_and_of_an_original(
    studio_app: AppFactory, pair: tuple[str, str]
) -> None:
    original, replay = pair
    app = studio_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, until=lambda: isinstance(app.screen, RunsScreen))
        app.open_run(original)
        await settle(pilot, until=loaded(app, original))
        await pilot.press("d")  # not a replay: the key is not there
        await settle(pilot)
        assert not isinstance(app.screen, RunDiffScreen)

        app.open_run(replay)
        await settle(pilot, until=loaded(app, replay))
        await pilot.press("d")
        await settle(pilot, until=diff_shown(app))
        screen = app.screen
        assert isinstance(screen, RunDiffScreen) and screen.diff is not None
        assert screen.diff.a.run_id == original
        assert f"runs › {replay[:8]} › diff {original[:8]} → {replay[:8]}" in screen_text(app)
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen.__class__.__name__ == "RunDetailScreen"


async def test_a_replay_whose_original_is_another_workflow_says_why_it_is_not_compared(
    studio_app: AppFactory, pair: tuple[str, str]
) -> None:
    """The standard data's nested run (nested-ops) names echo-1 (echo-chain) as its original."""
    app = studio_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await on_row(pilot, app, seed.run_id("nested"))
        await pilot.press("d")
        await settle(pilot, until=diff_shown(app))
        screen = app.screen
        assert isinstance(screen, RunDiffScreen)
        assert screen.diff is None and screen.problem is not None
        assert "different workflows" in screen.problem
