"""Pilot tests of marks, bulk cancel and the inbox, on real Postgres (and real Temporal where runs must move)."""

import asyncio
import io
from collections.abc import Callable, Sequence

import asyncpg
import pytest
from rich.console import Console
from rich.text import Text
from textual.message import Message
from textual.notifications import Notify
from textual.pilot import Pilot
from textual.widgets import Static, TextArea

from engine.services.audit import Actor
from engine.services.cancel import CancelOutcome
from engine.services.context import ServiceContext
from engine.services.launch import launch_run
from engine.services.runs import get_run_detail
from engine.services.tasks import list_open_tasks
from studio_tui.app import RunStudioApp
from studio_tui.screens import bulk_cancel
from studio_tui.screens.bulk_cancel import BulkCancelScreen, select_matching
from studio_tui.screens.help import HelpScreen
from studio_tui.screens.inbox import InboxScreen
from studio_tui.screens.run_detail import RunDetailScreen
from studio_tui.screens.runs import MARK, RunsScreen
from studio_tui.screens.task_response_modal import TaskResponseModal, form_fields, parse_response, skeleton
from studio_tui.widgets.keyed_table import KeyedTable
from tests.helpers import publish_examples, wait_for_run, wait_until
from tests.tui import seed, seed_inbox
from tests.tui.conftest import quiet, settle

AppFactory = Callable[..., RunStudioApp]

LONG_TIMER = {"waitMs": 600_000}


def runs_screen(app: RunStudioApp) -> RunsScreen:
    screen = app.screen
    assert isinstance(screen, RunsScreen)
    return screen


def bulk_screen(app: RunStudioApp) -> BulkCancelScreen:
    screen = app.screen
    assert isinstance(screen, BulkCancelScreen)
    return screen


def inbox_screen(app: RunStudioApp) -> InboxScreen:
    screen = app.screen
    assert isinstance(screen, InboxScreen)
    return screen


def response_modal(app: RunStudioApp) -> TaskResponseModal:
    screen = app.screen
    assert isinstance(screen, TaskResponseModal)
    return screen


def shown_runs(app: RunStudioApp) -> list[str]:
    return runs_screen(app).query_one(KeyedTable).row_keys()


def text_of(app: RunStudioApp, selector: str) -> str:
    """The whole text of a static (also what is scrolled out of view), as plain text."""
    content = app.screen.query_one(selector, Static).content
    if isinstance(content, str | Text):
        return str(content)
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(content)
    return console.export_text()


def task_highlighted(app: RunStudioApp) -> bool:
    return isinstance(app.screen, InboxScreen) and app.screen.highlighted_task is not None


def footer_keys(app: RunStudioApp) -> set[str]:
    return set(app.screen.active_bindings)


async def mark(pilot: Pilot[None], app: RunStudioApp, *run_ids: str) -> None:
    table = runs_screen(app).query_one(KeyedTable)
    for run_id in run_ids:
        table.move_cursor(row=table.row_keys().index(run_id))
        await pilot.press("space")
    await settle(pilot)


async def bulk_cancel_through(pilot: Pilot[None], app: RunStudioApp, *, timeout: float = 30.0) -> BulkCancelScreen:
    """X, check the confirmation is up, y, and wait for the outcome."""
    await pilot.press("X")
    await settle(pilot, until=lambda: isinstance(app.screen, BulkCancelScreen))
    screen = bulk_screen(app)
    assert screen.phase == "confirm"
    await pilot.press("y")
    await settle(pilot, until=lambda: screen.phase == "outcome", timeout=timeout)
    return screen


def outcomes_by_run(screen: BulkCancelScreen) -> dict[str, str]:
    assert screen.outcomes is not None
    return {o.run_id: o.outcome for o in screen.outcomes}


# -- bulk cancel on a real stack ---------------------------------------------------------------------


async def test_bulk_cancel_of_marked_runs_then_by_the_waiting_filter(services: ServiceContext) -> None:
    await publish_examples(services, "timer", "echo_chain")
    timers = [await launch_run(services, workflow_id="timer", payload=LONG_TIMER) for _ in range(3)]
    finished = await launch_run(services, workflow_id="echo-chain", payload={"ticket": {"id": 7}})
    for run_id in timers:
        await wait_for_run(services, run_id, frozenset({"WAITING"}))
    await wait_for_run(services, finished)

    app = quiet(RunStudioApp(services))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, until=lambda: isinstance(app.screen, RunsScreen) and len(shown_runs(app)) == 4)
        first, second, third = timers
        await mark(pilot, app, first, second)
        screen = runs_screen(app)
        assert screen.marked_run_ids == [first, second]
        assert "2 marked" in text_of(app, "#runs-count")
        table = screen.query_one(KeyedTable)
        assert table.get_cell(first, "mark").plain.strip() == MARK
        assert table.get_cell(third, "mark").plain.strip() == ""

        outcome = await bulk_cancel_through(pilot, app)
        assert outcomes_by_run(outcome) == {first: "canceled", second: "canceled"}
        assert "Canceled 2 of 2 runs" in text_of(app, "#bulk-question")
        await pilot.press("escape")
        await settle(pilot)
        assert runs_screen(app).marked_run_ids == []
        assert "marked" not in text_of(app, "#runs-count")

        for run_id in (first, second):
            await wait_for_run(services, run_id, frozenset({"CANCELED"}))
        assert (await get_run_detail(services, third)).status == "WAITING"

        # No marks: the filter decides. Status WAITING now matches only the third timer.
        await pilot.press("3")
        await settle(pilot, until=lambda: shown_runs(app) == [third])
        await pilot.press("X")
        await settle(pilot, until=lambda: isinstance(app.screen, BulkCancelScreen))
        assert "Cancel 1 run (status WAITING)?" in text_of(app, "#bulk-question")
        await pilot.press("y")
        screen_ = bulk_screen(app)
        await settle(pilot, until=lambda: screen_.phase == "outcome", timeout=30)
        assert outcomes_by_run(screen_) == {third: "canceled"}
        assert "0 not cancelable" in text_of(app, "#bulk-note")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, RunsScreen)
        await wait_for_run(services, third, frozenset({"CANCELED"}))
        # The list follows: no WAITING run is left.
        await settle(pilot, until=lambda: shown_runs(app) == [], timeout=10)
        assert (await get_run_detail(services, finished)).status == "SUCCEEDED"


# -- bulk cancel without Temporal: selection, refusals, nothing to cancel -------------------------------


async def test_every_run_has_an_outcome_when_temporal_is_unreachable(studio_app: AppFactory) -> None:
    app = studio_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        stuck, waiting, done = seed.run_id("stuck"), seed.run_id("waiting"), seed.run_id("echo-1")
        await mark(pilot, app, stuck, waiting, done)
        screen = await bulk_cancel_through(pilot, app)
        assert outcomes_by_run(screen) == {stuck: "refused", waiting: "refused", done: "not_cancelable"}
        listed = text_of(app, "#bulk-runs")
        for run_id in (stuck, waiting, done):
            assert run_id[:8] in listed
        assert "127.0.0.1:1" in listed and "nothing was changed" in listed
        assert "already SUCCEEDED" in listed
        assert "0 canceled · 2 refused · 1 not cancelable" in text_of(app, "#bulk-note")
        await pilot.press("escape")
        await settle(pilot)
        assert runs_screen(app).marked_run_ids == []
        assert runs_screen(app).query_one(KeyedTable).get_cell(stuck, "mark").plain.strip() == ""


async def test_progress_shows_and_nothing_closes_the_modal_while_canceling(
    studio_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = asyncio.Event()

    async def slow_cancel_runs(
        ctx: ServiceContext,
        run_ids: Sequence[str],
        *,
        actor: Actor,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> list[CancelOutcome]:
        outcomes = []
        for done, run_id in enumerate(run_ids, start=1):
            outcomes.append(CancelOutcome(run_id=run_id, outcome="canceled", status_before="RUNNING"))
            if on_progress is not None:
                on_progress(done, len(run_ids))
            if done == 1:
                await release.wait()
        return outcomes

    monkeypatch.setattr(bulk_cancel, "cancel_runs", slow_cancel_runs)
    app = studio_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        stuck, running = seed.run_id("stuck"), seed.run_id("running")
        await mark(pilot, app, stuck, running)
        await pilot.press("X")
        await settle(pilot, until=lambda: isinstance(app.screen, BulkCancelScreen))
        screen = bulk_screen(app)
        await pilot.press("y")
        for _ in range(100):  # not settle: the cancel is held half-way on purpose
            await pilot.pause()
            if screen.progress == (1, 2):
                break
        assert screen.phase == "canceling"
        assert "Canceling… 1/2" in text_of(app, "#bulk-note")
        assert not screen.query_one("#bulk-buttons").display
        await pilot.press("escape", "enter", "n", "q")
        await pilot.pause()
        assert app.screen is screen and screen.phase == "canceling"
        release.set()
        await settle(pilot, until=lambda: screen.phase == "outcome")
        assert outcomes_by_run(screen) == {stuck: "canceled", running: "canceled"}
        assert "Canceled 2 of 2 runs" in text_of(app, "#bulk-question")


async def test_backing_out_changes_nothing_and_keeps_the_marks(studio_app: AppFactory) -> None:
    app = studio_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        stuck = seed.run_id("stuck")
        await mark(pilot, app, stuck)
        await pilot.press("X")
        await settle(pilot, until=lambda: isinstance(app.screen, BulkCancelScreen))
        assert "Cancel 1 marked run?" in text_of(app, "#bulk-question")
        await pilot.press("enter")  # the focused button is Back: a stray enter changes nothing
        await settle(pilot)
        assert isinstance(app.screen, RunsScreen)
        assert runs_screen(app).marked_run_ids == [stuck]
        await pilot.press("X")
        await settle(pilot, until=lambda: isinstance(app.screen, BulkCancelScreen))
        await pilot.press("escape")
        await settle(pilot)
        assert runs_screen(app).marked_run_ids == [stuck]
        # Marks outlive filters; u forgets them all.
        await pilot.press("5")
        await settle(pilot)
        assert runs_screen(app).marked_run_ids == [stuck]
        await pilot.press("u")
        await settle(pilot)
        assert runs_screen(app).marked_run_ids == []
        assert (await get_run_detail(runs_screen(app).services, stuck)).status == "RUNNING"


async def test_nothing_to_cancel_is_said_and_nothing_is_asked(studio_app: AppFactory) -> None:
    notices: list[str] = []

    def hook(message: Message) -> None:
        if isinstance(message, Notify):
            notices.append(str(message.notification.message))

    app = studio_app()
    async with app.run_test(size=(100, 30), message_hook=hook) as pilot:
        await settle(pilot)
        await pilot.press("6")  # CANCELED: a status that cannot be canceled
        await settle(pilot)
        await pilot.press("X")
        await settle(pilot)
        assert isinstance(app.screen, RunsScreen)
        assert any("only RUNNING or WAITING runs can be canceled" in n for n in notices)
        await pilot.press("1", "slash", *"no-such-workflow", "enter")
        await settle(pilot)
        await pilot.press("X")
        await settle(pilot)
        assert isinstance(app.screen, RunsScreen)
        assert any("no run matches status RUNNING or WAITING, workflow no-such-workflow" in n for n in notices)


async def test_a_run_id_prefix_selects_every_page_of_cancelable_runs(
    seeded_pool: asyncpg.Pool, migrated_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.tui.conftest import studio_services

    services = studio_services(seeded_pool, migrated_database_url)
    status_of = {seed.run_id("stuck"): "RUNNING", seed.run_id("running"): "RUNNING", seed.run_id("waiting"): "WAITING"}
    for n in range(40):
        status = "RUNNING" if n % 2 else "WAITING"
        run = seed.Run(f"page-{n}", "timer", status, seed.ago(600 + n))
        status_of[await seed.insert_run(seeded_pool, run)] = status
    for n in range(10):
        await seed.insert_run(seeded_pool, seed.Run(f"over-{n}", "timer", "SUCCEEDED", seed.ago(700), seed.ago(690)))
    # The first hex digit most cancelable runs share, so the prefix matches many of them.
    prefix = max("0123456789abcdef", key=lambda c: sum(r.startswith(c) for r in status_of))
    matching = {r: s for r, s in status_of.items() if r.startswith(prefix)}
    assert len(matching) >= 5
    monkeypatch.setattr(bulk_cancel, "SELECT_PAGE", 2)  # many pages for each status
    selected = await select_matching(services, status=None, workflow_id=None, run_id_prefix=prefix)
    assert sorted(selected) == sorted(matching)
    waiting = await select_matching(services, status="WAITING", workflow_id=None, run_id_prefix=prefix.upper())
    assert sorted(waiting) == sorted(r for r, s in matching.items() if s == "WAITING")
    assert await select_matching(services, status="SUCCEEDED", workflow_id=None, run_id_prefix=prefix) == []


async def test_read_only_mode_has_no_marks_and_no_bulk_cancel(studio_app: AppFactory) -> None:
    app = studio_app(read_only=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        keys = footer_keys(app)
        assert "space" not in keys and "X" not in keys
        assert "i" in keys
        table = runs_screen(app).query_one(KeyedTable)
        assert "mark" not in [str(c.key.value) for c in table.ordered_columns]
        await pilot.press("space", "X")
        await settle(pilot)
        assert isinstance(app.screen, RunsScreen)
        assert runs_screen(app).marked_run_ids == []
        # Nor through the palette's app action.
        assert app.check_action("bulk_cancel", ()) is False
        await app.run_action("bulk_cancel")
        await settle(pilot)
        assert isinstance(app.screen, RunsScreen)
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        help_text = " ".join(str(s.render()) for s in app.screen.query(Static))
        assert "Bulk cancel" not in help_text and "Mark" not in help_text and "Inbox" in help_text


# -- the inbox --------------------------------------------------------------------------------------


async def test_complete_a_human_task_from_the_inbox(services: ServiceContext) -> None:
    await publish_examples(services, "human_task")
    run_id = await launch_run(services, workflow_id="human-task", payload={"customer": "acme"})
    await wait_for_run(services, run_id, frozenset({"WAITING"}))
    tasks = await wait_until(lambda: list_open_tasks(services), what="the open task")
    task_id = tasks[0].task_id
    notices: list[str] = []

    def hook(message: Message) -> None:
        if isinstance(message, Notify):
            notices.append(str(message.notification.message))

    app = quiet(RunStudioApp(services))
    async with app.run_test(size=(100, 30), message_hook=hook) as pilot:
        await settle(pilot, until=lambda: isinstance(app.screen, RunsScreen))
        await pilot.press("i")
        await settle(pilot, until=lambda: task_highlighted(app))
        inbox = inbox_screen(app)
        assert inbox.query_one("#tasks-table", KeyedTable).row_keys() == [task_id]
        assert inbox.query_one("#waiting-table", KeyedTable).row_keys() == [run_id]
        assert "Review refund for acme" in inbox.query_one("#tasks-table", KeyedTable).get_row(task_id)[0].plain
        assert "Approve or reject the refund." in text_of(app, "#inbox-detail")

        await pilot.press("enter")
        await settle(pilot, until=lambda: isinstance(app.screen, TaskResponseModal))
        modal = response_modal(app)
        editor = modal.query_one(TextArea)
        assert editor.text == '{\n  "approved": null\n}'

        # Not JSON: said with line and column, nothing is sent.
        editor.text = '{"approved": tru'
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "line 1, column 14" in text_of(app, "#task-state")
        assert app.screen is modal

        # JSON the form rejects: the service lists the problem with its path; the modal stays.
        editor.text = '{"approved": "yes"}'
        await pilot.press("ctrl+s")
        await settle(pilot, until=lambda: not modal.submitting)
        state = text_of(app, "#task-state")
        assert '$.approved: "yes" is not of type "boolean"' in state
        assert app.screen is modal
        assert (await get_run_detail(services, run_id)).status == "WAITING"

        editor.text = '{"approved": true}'
        await pilot.press("ctrl+s")
        await settle(pilot, until=lambda: isinstance(app.screen, InboxScreen), timeout=20)
        assert "Task completed" in notices
        detail = await wait_for_run(services, run_id)
        assert detail.status == "SUCCEEDED"
        assert detail.vars["outcome"] == "refunded"
        await settle(pilot, until=lambda: inbox.query_one("#tasks-table", KeyedTable).row_keys() == [], timeout=10)


async def test_inbox_lists_tasks_and_waiting_runs_and_opens_a_waiting_run(
    studio_app: AppFactory, seeded_pool: asyncpg.Pool
) -> None:
    ids = await seed_inbox.seed_inbox(seeded_pool)
    app = studio_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot, until=lambda: task_highlighted(app))
        inbox = inbox_screen(app)
        assert inbox.query_one("#tasks-table", KeyedTable).row_keys() == [ids["hostile-task"], ids["refund"]]
        assert inbox.query_one("#waiting-table", KeyedTable).row_keys() == [
            ids["nap"],
            ids["approval"],
            ids["paid"],
            seed.run_id("waiting"),
        ]
        assert inbox.active_bindings["enter"].binding.action == "respond"
        await pilot.press("tab", "down", "down")
        await settle(pilot, until=lambda: "order.paid" in text_of(app, "#inbox-detail"))
        assert "waits for event order.paid with key A-1001" in text_of(app, "#inbox-detail")
        assert inbox.active_bindings["enter"].binding.action == "open_run"
        await pilot.press("enter")
        await settle(pilot, until=lambda: isinstance(app.screen, RunDetailScreen))
        assert isinstance(app.screen, RunDetailScreen) and app.screen.run_id == ids["paid"]
        await pilot.press("escape")
        await settle(pilot)
        assert inbox_screen(app) is inbox
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, RunsScreen)


async def test_read_only_inbox_does_not_answer_tasks(studio_app: AppFactory, seeded_pool: asyncpg.Pool) -> None:
    ids = await seed_inbox.seed_inbox(seeded_pool)
    app = studio_app(read_only=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot, until=lambda: task_highlighted(app))
        inbox = inbox_screen(app)
        assert inbox.check_action("respond", ()) is False
        assert inbox.active_bindings["enter"].binding.action == "open_run"
        await pilot.press("enter")
        await settle(pilot)
        assert not isinstance(app.screen, TaskResponseModal)
        # Enter opens the task's run instead, to look at.
        assert isinstance(app.screen, RunDetailScreen) and app.screen.run_id == seed.run_id("approval")
        assert ids["hostile-task"] in inbox.query_one("#tasks-table", KeyedTable).row_keys()
        await pilot.press("escape")
        await settle(pilot)
        inbox.action_respond()
        await settle(pilot)
        assert inbox_screen(app) is inbox


async def test_a_completion_temporal_does_not_take_is_recorded_and_its_delivery_said_pending(
    studio_app: AppFactory, seeded_pool: asyncpg.Pool
) -> None:
    # Issue 9 item 3: a decision is committed before the signal, so Temporal being down no longer
    # leaves the task open; the studio says the delivery is pending instead.
    ids = await seed_inbox.seed_inbox(seeded_pool)
    app = studio_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot, until=lambda: task_highlighted(app))
        await pilot.press("down", "enter")
        await settle(pilot, until=lambda: isinstance(app.screen, TaskResponseModal))
        modal = response_modal(app)
        assert modal.human_task.task_id == ids["refund"]
        modal.query_one(TextArea).text = '{"approved": true}'
        await pilot.press("ctrl+s")
        await settle(pilot, until=lambda: isinstance(app.screen, InboxScreen))
        notes = [(n.severity, n.title, str(n.message)) for n in app._notifications]
        pending = [n for n in notes if n[1] == "Delivery pending"]
        assert len(pending) == 1 and pending[0][0] == "warning"
        assert "recorded and final" in pending[0][2] and "127.0.0.1:1" in pending[0][2]
        assert ids["refund"] not in app.screen.query_one("#tasks-table", KeyedTable).row_keys()
    assert [t.task_id for t in await list_open_tasks(modal.services)] == [ids["hostile-task"]]


async def test_the_palette_action_opens_the_inbox_from_a_run_screen(studio_app: AppFactory) -> None:
    app = studio_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        app.open_run(seed.run_id("waiting"))
        await settle(pilot)
        await app.run_action("open_inbox")
        await settle(pilot)
        assert isinstance(app.screen, InboxScreen)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, RunsScreen)


# -- pure helpers -----------------------------------------------------------------------------------


def test_the_response_skeleton_and_local_json_checks() -> None:
    form = seed_inbox.REFUND_FORM
    assert skeleton(form) == '{\n  "approved": null\n}'
    assert skeleton({"type": "object", "properties": {"a": {}}}) == "{}"
    assert skeleton({"type": "string"}) == "{}"
    assert parse_response('{"a": 1}') == ({"a": 1}, None)
    assert parse_response('{\n  "a": 1\n  "b": 2\n}') == (None, "line 3, column 3: Expecting ',' delimiter")
    assert form_fields(form) == "approved (boolean, required) · comment (string)"
    assert form_fields({"properties": {"level": {"enum": ["low", "high"]}}}) == 'level (one of "low", "high")'
    assert form_fields({"type": "string"}) == ""
