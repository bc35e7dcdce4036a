"""Pilot tests of the run screen's actions: replay, cancel and export, and read-only mode.

The flows that start or cancel runs use the ``services`` fixture: a real worker on a real Temporal and a real
Postgres. The replay function the modal calls is wrapped in a recording spy that delegates to the real one, so
the tests can also see exactly what the studio sent (no payload at all for an unedited replay). Error paths and
read-only mode use the seeded database with Temporal unreachable.
"""

import asyncio
import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Button, Static, TextArea
from textual.widgets._footer import FooterKey

from engine.redaction import PLACEHOLDER
from engine.services.audit import Actor
from engine.services.cancel import CancelOutcome
from engine.services.cancel import cancel_run as real_cancel_run
from engine.services.context import ServiceContext
from engine.services.launch import launch_run
from engine.services.replay import replay_run as real_replay_run
from engine.services.runs import get_run_detail, list_runs
from studio_tui.app import RunStudioApp
from studio_tui.screens import replay_modal
from studio_tui.screens.confirm_modal import ConfirmModal
from studio_tui.screens.replay_modal import EDITED, UNEDITED, ReplayModal, check_text, editable_json
from studio_tui.screens.run_detail import RunDetailScreen
from studio_tui.screens.runs import RunsScreen
from tests.helpers import publish_examples, wait_for_run
from tests.tui import seed
from tests.tui.conftest import quiet, run_screen, settle

AppFactory = Callable[..., RunStudioApp]
ReplayCalls = list[tuple[str, dict[str, Any] | None]]

PASSWORD = "hunter2-very-secret"
SSN = "123-45-6789"
LOGIN_PAYLOAD = {"user": "ana", "password": PASSWORD, "customer": {"ssn": SSN, "name": "ACME"}}
SECRETS = (PASSWORD, SSN, "hunter2")


# -- helpers ------------------------------------------------------------------------------------------


def spy_on_replay(monkeypatch: pytest.MonkeyPatch) -> ReplayCalls:
    """Record (run id, payload) of every replay the modal asks for; the real ``replay_run`` still does the work."""
    calls: ReplayCalls = []
    assert replay_modal.__dict__["replay_run"] is real_replay_run

    async def recording_replay(
        ctx: ServiceContext, run_id: str, *, payload: dict[str, Any] | None, actor: Actor
    ) -> str:
        calls.append((run_id, copy.deepcopy(payload)))
        return await real_replay_run(ctx, run_id, payload=payload, actor=actor)

    monkeypatch.setattr(replay_modal, "replay_run", recording_replay)
    return calls


def modal(app: RunStudioApp) -> ReplayModal:
    screen = app.screen
    assert isinstance(screen, ReplayModal), screen
    return screen


def shown(app: RunStudioApp, run_id: str) -> Callable[[], bool]:
    """The run screen of ``run_id`` is on top and has loaded the run."""

    def check() -> bool:
        screen = app.screen
        return isinstance(screen, RunDetailScreen) and screen.run_id == run_id and screen.detail is not None

    return check


def static_text(screen: ReplayModal, selector: str) -> str:
    widget = screen.query_one(selector, Static)
    return str(widget.content) if widget.display else ""


def footer_actions(app: RunStudioApp) -> set[str]:
    """The actions the footer offers right now."""
    return {key.action for key in app.screen.query(FooterKey)}


def notes(app: RunStudioApp) -> list[tuple[str, str, str]]:
    """(severity, title, message) of every notification so far."""
    return [(n.severity, n.title, str(n.message)) for n in app._notifications]


def exported_files(directory: Path, run_id: str) -> list[Path]:
    """The export files of ``run_id`` in ``directory`` (default name: run-<id>-<time>.json)."""
    return list(directory.glob(f"run-{run_id}-*.json"))


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


async def open_run(pilot: Pilot[None], app: RunStudioApp, run_id: str) -> RunDetailScreen:
    await settle(pilot)
    app.open_run(run_id)
    await settle(pilot, until=shown(app, run_id))
    return run_screen(app)


async def open_replay(pilot: Pilot[None], app: RunStudioApp) -> ReplayModal:
    await pilot.press("R")
    await settle(pilot, until=lambda: isinstance(app.screen, ReplayModal))
    return modal(app)


async def login_run(services: ServiceContext) -> str:
    """A SUCCEEDED run of examples/support_login.json with a password and an SSN in its payload."""
    await publish_examples(services, "support_login")
    run_id = await launch_run(services, workflow_id="support-login", payload=LOGIN_PAYLOAD)
    done = await wait_for_run(services, run_id)
    assert done.status == "SUCCEEDED", done.error
    return run_id


async def replayed_run(pilot: Pilot[None], app: RunStudioApp, original: str) -> str:
    """Wait until the modal has closed and the new run's screen is open; return the new run's id."""

    def new_run_open() -> bool:
        screen = app.screen
        return isinstance(screen, RunDetailScreen) and screen.run_id != original and screen.detail is not None

    await settle(pilot, until=new_run_open, timeout=20)
    return run_screen(app).run_id


def cursor_after(editor: TextArea, needle: str) -> tuple[int, int]:
    """The (row, column) just after the first ``needle`` in the editor."""
    for row, line in enumerate(editor.text.split("\n")):
        column = line.find(needle)
        if column >= 0:
            return row, column + len(needle)
    raise AssertionError(f"{needle!r} is not in the editor")


# -- replay, on a real worker and Temporal --------------------------------------------------------------


async def test_unedited_replay_sends_no_payload_and_uses_the_original_input(
    services: ServiceContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = await login_run(services)
    calls = spy_on_replay(monkeypatch)
    app = quiet(RunStudioApp(services))
    async with app.run_test(size=(100, 30)) as pilot:
        await open_run(pilot, app, original)
        dialog = await open_replay(pilot, app)
        editor = dialog.query_one(TextArea)
        assert editor.has_focus
        text = editor.text
        assert json.loads(text) == {
            "user": "ana",
            "password": PLACEHOLDER,
            "customer": {"ssn": PLACEHOLDER, "name": "ACME"},
        }
        assert f'"password": "{PLACEHOLDER}"' in text and f'"ssn": "{PLACEHOLDER}"' in text
        assert_no_secret(text)
        assert UNEDITED in static_text(dialog, "#replay-state")
        assert static_text(dialog, "#replay-problem") == ""

        await pilot.press("ctrl+s")
        new_run_id = await replayed_run(pilot, app, original)
        assert ("information", "", f"Replay started: {new_run_id[:8]}") in notes(app)
        # The new run replaced the original on the screen stack; the trail says where it came from.
        trail = str(app.screen.query_one("#run-trail", Static).content)
        assert trail.startswith(f"runs › {original[:8]} › {new_run_id[:8]}")
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, RunsScreen)

    assert calls == [(original, None)]  # no payload at all: the service used the original input
    new = await wait_for_run(services, new_run_id)
    assert new.status == "SUCCEEDED", new.error
    assert new.trigger == "replay"
    assert new.trigger_metadata == {"replayOfRunId": original, "edited": False}
    assert new.vars == {"user": "ana", "passwordLength": len(PASSWORD), "ssnLast4": SSN[-4:]}


async def test_edited_replay_sends_the_edit_and_keeps_the_secrets(
    services: ServiceContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = await login_run(services)
    calls = spy_on_replay(monkeypatch)
    app = quiet(RunStudioApp(services))
    async with app.run_test(size=(100, 30)) as pilot:
        await open_run(pilot, app, original)
        dialog = await open_replay(pilot, app)
        editor = dialog.query_one(TextArea)

        # Type "bob" over "ana" with the keyboard.
        editor.move_cursor(cursor_after(editor, '"user": "ana'))
        await pilot.press("backspace", "backspace", "backspace", "b", "o", "b")
        await settle(pilot)
        assert '"user": "bob"' in editor.text
        assert EDITED in static_text(dialog, "#replay-state")

        # Reverting the edit is unedited again.
        await pilot.press("backspace", "backspace", "backspace", "a", "n", "a")
        await settle(pilot)
        assert editor.text == dialog.pristine
        assert UNEDITED in static_text(dialog, "#replay-state")

        row, end = cursor_after(editor, '"user": "ana"')
        editor.replace('"bob"', (row, end - len('"ana"')), (row, end))
        await settle(pilot)
        assert EDITED in static_text(dialog, "#replay-state")
        await pilot.press("ctrl+s")
        new_run_id = await replayed_run(pilot, app, original)

    # Only the edit left the studio: the secrets went as placeholders and came back on the server.
    assert calls == [
        (original, {"user": "bob", "password": PLACEHOLDER, "customer": {"ssn": PLACEHOLDER, "name": "ACME"}})
    ]
    new = await wait_for_run(services, new_run_id)
    assert new.status == "SUCCEEDED", new.error
    assert new.trigger_metadata == {"replayOfRunId": original, "edited": True}
    assert new.vars == {"user": "bob", "passwordLength": len(PASSWORD), "ssnLast4": SSN[-4:]}


async def test_invalid_json_says_where_and_replays_nothing(
    services: ServiceContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = await login_run(services)
    calls = spy_on_replay(monkeypatch)
    app = quiet(RunStudioApp(services))
    async with app.run_test(size=(100, 30)) as pilot:
        await open_run(pilot, app, original)
        dialog = await open_replay(pilot, app)
        editor = dialog.query_one(TextArea)
        row, column = cursor_after(editor, '"user": "ana",')
        editor.move_cursor((row, column))
        await pilot.press("x")  # a stray character after the comma
        await settle(pilot)
        problem = static_text(dialog, "#replay-problem")
        assert f"invalid JSON at line {row + 1}, column {column + 1}" in problem
        assert "Expecting property name enclosed in double quotes" in problem
        assert dialog.check_action("send", ()) is None  # shown disabled in the footer

        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is dialog  # still open, still saying where the JSON breaks
        assert "invalid JSON" in static_text(dialog, "#replay-problem")

        await pilot.press("backspace")
        await settle(pilot)
        assert static_text(dialog, "#replay-problem") == ""
        assert UNEDITED in static_text(dialog, "#replay-state")
        await pilot.press("escape")
        await settle(pilot, until=shown(app, original))

    assert calls == []
    assert [run.run_id for run in await list_runs(services)] == [original]


# -- cancel and export, on a real worker and Temporal ----------------------------------------------------


async def test_cancel_a_waiting_run_after_confirming(services: ServiceContext) -> None:
    await publish_examples(services, "timer")
    run_id = await launch_run(services, workflow_id="timer", payload={"waitMs": 600_000})
    await wait_for_run(services, run_id, frozenset({"WAITING"}))
    app = quiet(RunStudioApp(services))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_run(pilot, app, run_id)
        assert "cancel_run" in footer_actions(app)

        # Backing out of the question changes nothing.
        await pilot.press("x")
        await settle(pilot, until=lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("escape")
        await settle(pilot, until=shown(app, run_id))
        assert (await get_run_detail(services, run_id)).status == "WAITING"

        await pilot.press("x")
        await settle(pilot, until=lambda: isinstance(app.screen, ConfirmModal))
        assert "Cancel run" in str(app.screen.query_one("#confirm-message", Static).content)
        await pilot.press("y")
        await settle(pilot, until=lambda: screen.detail is not None and screen.detail.status == "CANCELED", timeout=25)
        note = ("information", f"run {run_id[:8]}", "Cancel requested — the run ends CANCELED as it unwinds")
        assert note in notes(app)
        assert "cancel_run" not in footer_actions(app)
        assert screen.check_action("cancel_run", ()) is False

    detail = await wait_for_run(services, run_id)
    assert detail.status == "CANCELED"
    assert [(a.action, a.details["statusBefore"]) for a in detail.audit] == [("cancel", "WAITING")]


async def test_export_writes_a_redacted_file_under_runstudio_home(
    services: ServiceContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = await login_run(services)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RUNSTUDIO_HOME", str(tmp_path / "home"))
    app = quiet(RunStudioApp(services))
    async with app.run_test(size=(100, 30)) as pilot:
        await open_run(pilot, app, run_id)
        assert "cancel_run" not in footer_actions(app)  # a SUCCEEDED run cannot be canceled
        await pilot.press("e")
        await settle(pilot, until=lambda: any(m.startswith("Exported to ") for _, _, m in notes(app)))
        message = next(m for _, _, m in notes(app) if m.startswith("Exported to "))

    assert exported_files(tmp_path, run_id) == []  # never the current directory (often a checkout)
    files = exported_files(tmp_path / "home" / "exports", run_id)
    assert len(files) == 1
    assert message == f"Exported to {files[0].resolve()}"
    text = files[0].read_text()
    assert_no_secret(text)
    document = json.loads(text)
    assert document["run"]["run_id"] == run_id
    assert document["run"]["input"]["password"] == PLACEHOLDER
    assert [a.action for a in (await get_run_detail(services, run_id)).audit] == ["export"]


# -- seeded data, Temporal unreachable --------------------------------------------------------------------


async def test_read_only_mode_hides_and_blocks_replay_and_cancel(
    studio_app: AppFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls = spy_on_replay(monkeypatch)
    monkeypatch.chdir(tmp_path)
    app = studio_app(read_only=True)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_run(pilot, app, seed.run_id("waiting"))  # cancelable, were it not read-only
        offered = footer_actions(app)
        assert "replay" not in offered and "cancel_run" not in offered
        assert "export" in offered  # writes a file and an audit entry, changes no run
        assert screen.check_action("replay", ()) is False and screen.check_action("cancel_run", ()) is False
        await pilot.press("R", "x")
        await settle(pilot)
        assert app.screen is screen
        # Not even by name (the command palette and key bindings both go through check_action).
        await app.run_action("screen.replay")
        await app.run_action("screen.cancel_run")
        await settle(pilot)
        assert app.screen is screen
        assert calls == []
        assert not [n for n in notes(app) if n[0] == "error"]


async def test_cancel_is_offered_only_while_running_or_waiting(studio_app: AppFactory) -> None:
    app = studio_app()
    async with app.run_test(size=(100, 30)) as pilot:
        for name, offered in (("running", True), ("waiting", True), ("secret", False), ("canceled", False)):
            screen = await open_run(pilot, app, seed.run_id(name))
            assert ("cancel_run" in footer_actions(app)) is offered, name
            assert {"replay", "export"} <= footer_actions(app), name
            if not offered:
                await pilot.press("x")
                await settle(pilot)
                assert app.screen is screen
            await pilot.press("escape")


async def test_a_refused_cancel_is_an_error_and_changes_nothing(
    studio_app: AppFactory, seeded_pool: asyncpg.Pool
) -> None:
    app = studio_app()
    waiting = seed.run_id("waiting")
    async with app.run_test(size=(100, 30)) as pilot:
        await open_run(pilot, app, waiting)
        await pilot.press("x")
        await settle(pilot, until=lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await settle(pilot, until=lambda: any(n[0] == "error" for n in notes(app)))
        _, title, message = next(n for n in notes(app) if n[0] == "error")
        assert title == f"Cancel refused: run {waiting[:8]}"
        assert "Temporal at 127.0.0.1:1 is unreachable" in message and "nothing was changed" in message
        assert next(n for n in app._notifications if n.severity == "error").timeout >= 20
        assert "cancel_run" in footer_actions(app)  # still WAITING: it can be asked again
    status = await seeded_pool.fetchval("SELECT status FROM workflow_runs WHERE run_id = $1", waiting)
    assert status == "WAITING"


async def test_leaving_the_screen_does_not_abandon_a_cancel(
    studio_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answer arrives after the operator went back to the runs list: it is still shown."""
    from studio_tui.screens import run_detail

    gate = asyncio.Event()

    async def slow_cancel(ctx: ServiceContext, run_id: str, *, actor: Actor) -> CancelOutcome:
        await gate.wait()  # Temporal taking its time
        return await real_cancel_run(ctx, run_id, actor=actor)

    monkeypatch.setattr(run_detail, "cancel_run", slow_cancel)
    app = studio_app()
    waiting = seed.run_id("waiting")
    async with app.run_test(size=(100, 30)) as pilot:
        await open_run(pilot, app, waiting)
        await pilot.press("x")
        await settle(pilot, until=lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y", "escape")
        await pilot.pause()
        assert not isinstance(app.screen, RunDetailScreen)
        gate.set()
        await settle(pilot, until=lambda: any(n[0] == "error" for n in notes(app)))
        assert next(n for n in notes(app) if n[0] == "error")[1] == f"Cancel refused: run {waiting[:8]}"


async def test_replay_errors_are_shown_in_the_modal_which_stays_open(
    studio_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = spy_on_replay(monkeypatch)
    app = studio_app()
    secret = seed.run_id("secret")
    async with app.run_test(size=(100, 30)) as pilot:
        await open_run(pilot, app, secret)
        dialog = await open_replay(pilot, app)
        editor = dialog.query_one(TextArea)

        # The schema wants "user": the service rejects the payload before anything is created.
        editor.text = json.dumps({"password": PLACEHOLDER})
        await settle(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot, until=lambda: static_text(dialog, "#replay-problem") != "")
        problem = static_text(dialog, "#replay-problem")
        assert "The payload was rejected:" in problem and '"user" is a required property' in problem
        assert app.screen is dialog and not dialog.sending and not editor.read_only

        # Unedited, Temporal is unreachable: the new run is FAILED and the modal says why.
        editor.text = dialog.pristine
        await settle(pilot)
        await pilot.press("ctrl+enter")  # the same as ctrl+s, where the terminal tells it from enter
        await settle(pilot, until=lambda: "Temporal did not start" in static_text(dialog, "#replay-problem"))
        assert "was not started and is marked FAILED" in static_text(dialog, "#replay-problem")
        assert app.screen is dialog

        # A JSON value that is not an object cannot be sent at all.
        editor.text = "[1, 2]"
        await settle(pilot)
        assert "the payload must be a JSON object, not an array" in static_text(dialog, "#replay-problem")
        await pilot.press("escape")
        await settle(pilot, until=shown(app, secret))
    assert [payload for _, payload in calls] == [{"password": PLACEHOLDER}, None]


async def test_while_the_replay_starts_the_keys_wait(studio_app: AppFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Submit and escape are disabled (and the text frozen) until the service answers; one press, one replay."""
    gate = asyncio.Event()
    calls: ReplayCalls = []

    async def slow_replay(ctx: ServiceContext, run_id: str, *, payload: dict[str, Any] | None, actor: Actor) -> str:
        calls.append((run_id, payload))
        await gate.wait()
        return await real_replay_run(ctx, run_id, payload=payload, actor=actor)

    monkeypatch.setattr(replay_modal, "replay_run", slow_replay)
    app = studio_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await open_run(pilot, app, seed.run_id("secret"))
        dialog = await open_replay(pilot, app)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert dialog.sending and dialog.query_one(TextArea).read_only
        assert dialog.check_action("send", ()) is None and dialog.check_action("back", ()) is None
        assert "Starting the replay" in static_text(dialog, "#replay-problem")
        await pilot.press("ctrl+s", "escape", "a")
        await pilot.pause()
        assert app.screen is dialog and len(calls) == 1 and dialog.query_one(TextArea).text == dialog.pristine
        gate.set()
        # Temporal is unreachable here: the new run is FAILED, and the modal says so and opens up again.
        await settle(pilot, until=lambda: not dialog.sending)
        assert "Temporal did not start the replay:" in static_text(dialog, "#replay-problem")
        assert dialog.check_action("send", ()) is True and not dialog.query_one(TextArea).read_only


async def test_a_run_whose_definition_is_gone_cannot_be_replayed(
    studio_app: AppFactory, seeded_pool: asyncpg.Pool
) -> None:
    await seed.insert_run(seeded_pool, seed.Run("orphan", "no-such-workflow", "SUCCEEDED", seed.ago(60), seed.ago(59)))
    app = studio_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await open_run(pilot, app, seed.run_id("orphan"))
        dialog = await open_replay(pilot, app)  # offered all the same; the service says why not
        await pilot.press("ctrl+s")
        await settle(pilot, until=lambda: static_text(dialog, "#replay-problem") != "")
        problem = static_text(dialog, "#replay-problem")
        assert "This run cannot be replayed:" in problem and "no longer exists" in problem


async def test_export_errors_are_shown(studio_app: AppFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    app = studio_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await open_run(pilot, app, seed.run_id("echo-1"))
        # The current directory disappears under the studio: there is nowhere to write the file.
        gone = tmp_path / "gone"
        gone.mkdir()
        monkeypatch.chdir(gone)
        gone.rmdir()
        await pilot.press("e")
        await settle(pilot, until=lambda: any(n[0] == "error" for n in notes(app)))
        _, title, message = next(n for n in notes(app) if n[0] == "error")
        assert title == f"Export failed: run {seed.run_id('echo-1')[:8]}" and message.startswith("FileNotFoundError")


# -- the pieces ---------------------------------------------------------------------------------------------


async def test_confirm_modal_answers_and_shows_its_message_literally() -> None:
    answers: list[bool | None] = []

    class Host(App[None]):
        def on_mount(self) -> None:
            self.push_screen(
                ConfirmModal("Title [b]x[/b]", "Sure? [@click=app.quit]no[/] \x1b[2J", "Do it"), answers.append
            )

    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, ConfirmModal)
        assert dialog.query_one("#confirm-no", Button).has_focus  # a stray enter says no
        assert str(dialog.query_one("#confirm-message", Static).content) == "Sure? [@click=app.quit]no[/] \u241b[2J"
        assert str(dialog.query_one("#confirm-yes", Button).label) == "Do it (y)"
        await pilot.press("n")
        await pilot.pause()
        app.push_screen(ConfirmModal("t", "m"), answers.append)
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        app.push_screen(ConfirmModal("t", "m"), answers.append)
        await pilot.pause()
        await pilot.press("enter")  # on the focused Back button
        await pilot.pause()
        app.push_screen(ConfirmModal("t", "m"), answers.append)
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
    assert answers == [False, False, False, True]


def test_the_editor_text_parses_back_to_the_input_and_keeps_terminal_controls_out() -> None:
    value = {"note": seed.HOSTILE_TEXT, "bidi": "a\u202eb", "lines": "x\u2028y\u0085z", "del": "\x7f"}
    text = editable_json(value)
    assert json.loads(text) == value
    for raw in ("\x1b", "\x9b", "\u202e", "\u2028", "\u0085", "\x7f", "\x07", "\r"):
        assert raw not in text
    assert "\\u009b" in text and "\\u202e" in text


def test_check_text() -> None:
    pristine = editable_json({"a": 1})
    assert check_text(pristine, pristine).edited is False
    assert check_text(pristine, pristine).payload is None
    edited = check_text('{"a": 2}', pristine)
    assert edited.edited and edited.payload == {"a": 2} and edited.problem is None
    broken = check_text('{\n  "a": 2,\n}', pristine)
    assert broken.problem == "invalid JSON at line 3, column 1: Expecting property name enclosed in double quotes"
    assert check_text('"text"', pristine).problem == "the payload must be a JSON object, not a string"
    assert check_text("3", pristine).problem == "the payload must be a JSON object, not a number"


async def test_summary_and_step_detail_keep_their_separators(studio_app: AppFactory) -> None:
    """What the terminal receives has the spaces between segments (SVG renderers may drop leading spaces)."""
    app = studio_app()
    async with app.run_test(size=(100, 30)) as pilot:
        nested = seed.run_id("nested")
        await open_run(pilot, app, nested)
        await pilot.press(*["down"] * 19)
        await settle(pilot)
        lines = ["".join(segment.text for segment in strip) for strip in app.screen._compositor.render_strips()]
        screen_text = "\n".join(lines)
        assert f"nested-ops@1  run {nested}" in screen_text
        assert f"replayOfRunId {seed.run_id('echo-1')[:8]} (o)" in screen_text
        assert "flaky  root.steps[3]  attempt 2" in screen_text
