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


# -- bulk cancel and inbox ----------------------------------------------------------------------------
# (Imports of this section live in its helpers: the file is appended to by more than one feature.)


def mark(*names: str) -> Steps:
    """Put the cursor on each named seeded run in turn and press space."""

    async def step(pilot: Pilot[None], app: RunStudioApp) -> None:
        from studio_tui.widgets.keyed_table import KeyedTable

        table = app.screen.query_one("#runs-table", KeyedTable)
        for name in names:
            table.move_cursor(row=table.row_keys().index(seed.run_id(name)))
            await pilot.press("space")
        await settle(pilot)

    return step


def bulk_cancel_in(phase: str) -> Steps:
    """Press X and wait for the bulk-cancel modal to reach ``phase`` (confirming it first for the outcome)."""

    async def step(pilot: Pilot[None], app: RunStudioApp) -> None:
        from studio_tui.screens.bulk_cancel import BulkCancelScreen

        await pilot.press("X")
        await settle(pilot, until=lambda: isinstance(app.screen, BulkCancelScreen))
        if phase == "outcome":
            await pilot.press("y")
        await settle(pilot, until=lambda: isinstance(app.screen, BulkCancelScreen) and app.screen.phase == phase)

    return step


def open_inbox(*, focus_waiting: bool = False) -> Steps:
    """Press i and wait for both lists (with ``focus_waiting``, for what the third waiting run waits for)."""

    async def step(pilot: Pilot[None], app: RunStudioApp) -> None:
        from studio_tui.screens.inbox import InboxScreen

        def loaded() -> bool:
            return isinstance(app.screen, InboxScreen) and app.screen.query_one("#tasks-table").display

        await pilot.press("i")
        await settle(pilot, until=loaded)
        if focus_waiting:
            await pilot.press("tab", "down", "down")

            def waits_shown() -> bool:
                return "reading what it waits for" not in str(app.screen.query_one("#inbox-detail").render())

            await settle(pilot, until=waits_shown)

    return step


def respond(task: str, response: str) -> Steps:
    """Open the named seeded task's response modal, type ``response`` over the skeleton and submit it."""

    async def step(pilot: Pilot[None], app: RunStudioApp) -> None:
        from textual.widgets import TextArea

        from studio_tui.screens.task_response_modal import TaskResponseModal
        from studio_tui.widgets.keyed_table import KeyedTable
        from tests.tui import seed_inbox

        table = app.screen.query_one("#tasks-table", KeyedTable)
        table.move_cursor(row=table.row_keys().index(seed_inbox.task_id(task)))
        await pilot.press("enter")
        await settle(pilot, until=lambda: isinstance(app.screen, TaskResponseModal))
        editor = app.screen.query_one(TextArea)
        editor.cursor_blink = False
        editor.text = response
        await pilot.press("ctrl+s")
        modal = app.screen
        assert isinstance(modal, TaskResponseModal)
        await settle(pilot, until=lambda: not modal.submitting)

    return step


def with_inbox(seeded: Seeded) -> Seeded:
    """``seeded`` plus open tasks and runs waiting on an event and a timer (``seed_inbox``).

    Snapshot tests are synchronous and no loop runs while they do, so the seeding gets a loop of its own.
    """
    import asyncio

    from engine.store.db import connect
    from tests.tui import seed_inbox

    async def seed_it() -> None:
        conn = await connect(seeded.url)
        try:
            await seed_inbox.seed_inbox(conn)
        finally:
            await conn.close()

    asyncio.run(seed_it())
    return seeded


class TestBulkAndInbox:
    def test_two_marked_runs(self, snap_compare: SnapCompare, seeded: Seeded) -> None:
        """The mark column shows ▣ on the two marked runs and the count line says "2 marked"; the stuck marker
        keeps a blank cell before the workflow id."""
        run_before = scenario(mark("stuck", "waiting"))
        assert snap_compare(studio(seeded), terminal_size=(100, 30), run_before=run_before)

    def test_confirm_for_marked_runs(self, snap_compare: SnapCompare, seeded: Seeded) -> None:
        """X with marks: the count, each marked run by status and workflow, Back focused, at 80×24."""
        run_before = scenario(mark("stuck", "waiting"), bulk_cancel_in("confirm"))
        assert snap_compare(studio(seeded), terminal_size=(80, 24), run_before=run_before)

    def test_confirm_for_a_filter(self, snap_compare: SnapCompare, seeded: Seeded) -> None:
        """X without marks takes the filter: status RUNNING and the workflow searched for, in words."""
        search = press("slash", *"echo-chain", "tab")  # tab back to the list (enter now opens the first match)
        run_before = scenario(press("2"), search, bulk_cancel_in("confirm"))
        assert snap_compare(studio(seeded), terminal_size=(100, 30), run_before=run_before)

    def test_per_run_outcome(self, snap_compare: SnapCompare, seeded: Seeded) -> None:
        """Temporal is unreachable: the RUNNING and WAITING runs are refused with the reason, the finished run
        is not cancelable; totals on top, refused first."""
        run_before = scenario(mark("stuck", "waiting", "echo-1"), bulk_cancel_in("outcome"))
        assert snap_compare(studio(seeded), terminal_size=(100, 30), run_before=run_before)

    def test_inbox_with_open_tasks(self, snap_compare: SnapCompare, seeded: Seeded) -> None:
        """Open tasks newest first (the hostile title shown literally), waiting runs newest first, and the
        highlighted task's run, step, timeout and description underneath."""
        assert snap_compare(studio(with_inbox(seeded)), terminal_size=(100, 30), run_before=scenario(open_inbox()))

    def test_inbox_at_80x24_on_the_waiting_runs(self, snap_compare: SnapCompare, seeded: Seeded) -> None:
        """The smallest terminal, the waiting list focused: what the highlighted run waits for (an event and its
        correlation key)."""
        run_before = scenario(open_inbox(focus_waiting=True))
        assert snap_compare(studio(with_inbox(seeded)), terminal_size=(80, 24), run_before=run_before)

    def test_response_modal_with_a_validation_error(self, snap_compare: SnapCompare, seeded: Seeded) -> None:
        """The form rejects {"approved": "yes"}: the problem with its JSON path; the modal stays open with the
        task's description, redacted context and form above the editor."""
        run_before = scenario(open_inbox(), respond("refund", '{"approved": "yes"}'))
        assert snap_compare(studio(with_inbox(seeded)), terminal_size=(100, 30), run_before=run_before)


# -- run actions: replay, cancel ---------------------------------------------------------------------
# (Imports of this section live in its helpers, as above.)


def no_cursor_blink() -> Steps:
    """The editor's cursor stays drawn (a blinking cursor would make the screenshot depend on timing)."""

    async def step(pilot: Pilot[None], app: RunStudioApp) -> None:
        from textual.widgets import TextArea

        for editor in app.screen.query(TextArea):
            editor.cursor_blink = False
            # A stopped cursor is drawn only while focused; focus it again so the shot never depends on timing.
            editor.focus()
        await settle(pilot)

    return step


def replay_editor(name: str) -> tuple[Steps, ...]:
    """Open the run ``name``, then its replay editor."""
    return open_run(name), press("R"), no_cursor_blink()


class TestRunActions:
    def test_replay_modal_unedited(self, snap_compare: SnapCompare, seeded: Seeded) -> None:
        """R on the support-login run: the redacted input in the editor, "Unedited — the original input will be
        used", and the keys (ctrl+s, escape) in the dialog and the footer."""
        assert snap_compare(studio(seeded), terminal_size=(100, 30), run_before=scenario(*replay_editor("secret")))

    def test_replay_modal_edited(self, snap_compare: SnapCompare, seeded: Seeded) -> None:
        """A character typed into "user": the state line turns to "Edited — this payload will be sent"."""
        run_before = scenario(*replay_editor("secret"), press("down", "end", "left", "left", "2"))
        assert snap_compare(studio(seeded), terminal_size=(100, 30), run_before=run_before)

    def test_replay_modal_invalid_json(self, snap_compare: SnapCompare, seeded: Seeded) -> None:
        """A stray character after a comma: where the JSON breaks (line, column, message); replay is disabled."""
        run_before = scenario(*replay_editor("secret"), press("down", "end", "x"))
        assert snap_compare(studio(seeded), terminal_size=(100, 30), run_before=run_before)

    def test_replay_modal_at_80x24(self, snap_compare: SnapCompare, seeded: Seeded) -> None:
        """The replay editor at the smallest size: editor, state line and keys all visible."""
        assert snap_compare(studio(seeded), terminal_size=(80, 24), run_before=scenario(*replay_editor("secret")))

    def test_cancel_confirm_modal(self, snap_compare: SnapCompare, seeded: Seeded) -> None:
        """x on a WAITING run asks first, with the safe answer focused."""
        assert snap_compare(
            studio(seeded), terminal_size=(100, 30), run_before=scenario(open_run("waiting"), press("x"))
        )

    def test_cancel_refused_is_an_error_notification(self, snap_compare: SnapCompare, seeded: Seeded) -> None:
        """Confirmed, but Temporal is down: the refusal and its reason as an error notification; the run is
        still WAITING and x is still offered."""
        run_before = scenario(open_run("waiting"), press("x"), press("y"))
        assert snap_compare(studio(seeded), terminal_size=(100, 30), run_before=run_before)

    def test_run_screen_keys_at_80x24(self, snap_compare: SnapCompare, seeded: Seeded) -> None:
        """A WAITING run at the smallest size: the footer offers Replay, Cancel run and Export, and still Help."""
        assert snap_compare(studio(seeded), terminal_size=(80, 24), run_before=scenario(open_run("waiting")))
