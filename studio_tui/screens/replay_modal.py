"""``ReplayModal``: edit (or not) a run's redacted input and start a replay; dismissed with the new run's id.

Unedited, the replay sends no payload at all and the service uses the run's original, unredacted input.
Edited, the parsed object is sent; redaction placeholders left as they were get their secret back on the
server. The modal says at all times which of the two will happen.

Under the editor, the replay preview (:mod:`engine.services.replay_preview`) lists the original run's action
calls as reused, runs again or unknown for the payload in the editor, recomputed in a worker ~300 ms after
the typing stops; when side effects would run again, the keys line says how many before ctrl+s is pressed.
"""

import asyncio
import json
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widgets import Static, TextArea

from engine.errors import ServiceUnavailableError
from engine.services.audit import Actor
from engine.services.context import ServiceContext
from engine.services.launch import LaunchFailed
from engine.services.payloads import PayloadRejected
from engine.services.replay import ReplayNotPossible, replay_run
from engine.services.replay_preview import preview_replay, side_effects_sentence
from studio_tui.failures import failure_text
from studio_tui.format import role_style, short_id
from studio_tui.sanitize import safe_text
from studio_tui.widgets.replay_preview import PreviewState, ReplayPreviewView
from studio_tui.widgets.studio_footer import StudioFooter

UNEDITED: Final = "Unedited — the original input will be used"
EDITED: Final = "Edited — this payload will be sent"
HINT: Final = 'Redacted input. A "[REDACTED]" left as it is keeps the original secret.'
KEYS: Final = "ctrl+s replay · escape back"
PREVIEW_DEBOUNCE_S: Final = 0.3
"""Quiet time after the last keystroke before the preview is recomputed (one query per pause, not per key)."""

_ESCAPED: Final = frozenset(
    [0x7F, *range(0x80, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x2028, 0x2029, 0x85]
)
"""Characters ``json.dumps(ensure_ascii=False)`` leaves raw that must not reach the terminal (DEL, C1, bidi
formatting) or that the editor would take for a line break (U+2028/2029, NEL)."""


def editable_json(value: Any) -> str:
    """``value`` as indented JSON for the editor, with terminal-unsafe characters written as ``\\uXXXX``.

    ``json.dumps`` escapes C0 controls itself; the rest of ``_ESCAPED`` can only occur inside JSON strings,
    where the escape means the same character, so the text still parses to exactly ``value``.
    """
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    return "".join(f"\\u{ord(c):04x}" if ord(c) in _ESCAPED else c for c in text)


@dataclass(frozen=True)
class Checked:
    """What the editor's text would send: nothing (unedited), an object, or why it cannot be sent."""

    edited: bool
    payload: dict[str, Any] | None = None
    problem: str | None = None


def check_text(text: str, pristine: str) -> Checked:
    """Compare ``text`` with the ``pristine`` text and, when edited, parse it into the payload to send."""
    if text == pristine:
        return Checked(edited=False)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return Checked(edited=True, problem=f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}")
    if not isinstance(value, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(value), "a number")
        return Checked(edited=True, problem=f"the payload must be a JSON object, not {kind}")
    return Checked(edited=True, payload=value)


class ReplayModal(ModalScreen[str | None]):
    """A JSON editor on the run's redacted input; ctrl+s starts the replay, escape backs out."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "send", "Replay"),
        # Only terminals speaking the kitty keyboard protocol tell ctrl+enter from enter; elsewhere it is a newline.
        Binding("ctrl+enter", "send", "Replay", show=False),
        Binding("escape", "back", "Back"),
    ]

    checked: reactive[Checked] = reactive(Checked(edited=False), init=False)
    """The editor's text, checked: unedited, an object to send, or the reason it cannot be sent."""
    sending: reactive[bool] = reactive(False, init=False)
    """A replay is being started; the text is frozen and the keys wait for the answer."""
    failure: reactive[Text | None] = reactive(None, init=False)
    """Why the last replay attempt failed (shown until the next attempt)."""
    preview: reactive[PreviewState] = reactive(PreviewState(), init=False)
    """The replay preview for the editor's payload (or why there is none yet)."""

    class Started(Message):
        """The replay started as run ``run_id``."""

        def __init__(self, run_id: str) -> None:
            self.run_id = run_id
            super().__init__()

    class Failed(Message):
        """The replay did not start: ``heading`` and one line per problem."""

        def __init__(self, heading: str, problems: list[str]) -> None:
            self.heading = heading
            self.problems = problems
            super().__init__()

    def __init__(self, services: ServiceContext, run_id: str, redacted_input: Any, *, workflow: str = "") -> None:
        """``redacted_input`` is the run's input as the studio shows it (``RunDetail.input``)."""
        super().__init__()
        self.services = services
        self.run_id = run_id
        self.workflow = workflow
        self.pristine = editable_json(redacted_input)
        """The editor's text as first shown; the payload counts as edited whenever the text differs from it."""
        self._preview_generation = 0

    def compose(self) -> ComposeResult:
        """A hint, the editor, the state line and the problem line; the keys are on the bottom border."""
        with Vertical(id="replay-body"):
            yield Static(Text(HINT, style="dim"), id="replay-hint", markup=False)
            yield TextArea(
                self.pristine,
                language=_json_language(),
                soft_wrap=True,
                show_line_numbers=True,
                id="replay-editor",
            )
            yield Static(id="replay-state", markup=False)
            yield ReplayPreviewView(id="replay-preview", markup=False)
            yield Static(id="replay-problem", markup=False)
        yield StudioFooter()

    def on_mount(self) -> None:
        """Title the dialog, show the state and put the cursor in the editor."""
        title = Text("Replay run ")
        title.append_text(safe_text(short_id(self.run_id), single_line=True))
        if self.workflow:
            title.append(" of ")
            title.append_text(safe_text(self.workflow, single_line=True))
        body = self.query_one("#replay-body")
        body.border_title = title
        body.border_subtitle = KEYS
        self._show_state()
        self._show_problem()
        self.query_one(TextArea).focus()
        self._refresh_preview()

    # -- state ------------------------------------------------------------------------------------

    @property
    def editor(self) -> TextArea:
        """The JSON editor."""
        return self.query_one("#replay-editor", TextArea)

    @on(TextArea.Changed, "#replay-editor")
    def _text_changed(self) -> None:
        self.checked = check_text(self.editor.text, self.pristine)
        self._refresh_preview(delay=PREVIEW_DEBOUNCE_S)

    def watch_checked(self) -> None:
        """Unedited or edited, and whether it can be sent."""
        self._show_state()
        self._show_problem()
        self.refresh_bindings()

    def watch_sending(self, sending: bool) -> None:
        """Freeze the text and the keys while the replay starts."""
        self.editor.read_only = sending
        self._show_problem()
        self.refresh_bindings()

    def watch_failure(self) -> None:
        """Show why the last attempt failed."""
        self._show_problem()

    def watch_preview(self, state: PreviewState) -> None:
        """Show the preview, and put the count of side effects beside the replay key."""
        self.query_one(ReplayPreviewView).show(state)
        count = state.preview.side_effects if state.preview is not None else 0
        keys = KEYS if count == 0 else f"ctrl+s replay: {side_effects_sentence(count)} · escape back"
        self.query_one("#replay-body").border_subtitle = keys

    def _show_state(self) -> None:
        variables = self.app.theme_variables
        edited = self.checked.edited
        line = Text("● ", style=role_style(variables, "warning" if edited else "success", bold=True))
        line.append(EDITED if edited else UNEDITED, style="bold")
        self.query_one("#replay-state", Static).update(line)

    def _show_problem(self) -> None:
        """One place for what stands in the way: invalid JSON, the service's refusal, or the wait for it."""
        variables = self.app.theme_variables
        problem = self.query_one("#replay-problem", Static)
        text: Text | None = None
        if self.sending:
            text = Text("Starting the replay…", style="bold")
        elif self.checked.problem is not None:
            text = Text("✗ Cannot replay: ", style=role_style(variables, "error", bold=True))
            text.append_text(safe_text(self.checked.problem, style=role_style(variables, "error")))
        elif self.failure is not None:
            text = self.failure
        problem.display = text is not None
        problem.update(text or "")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Replay only what can be sent, once at a time; no backing out while Temporal is being asked."""
        if action == "send":
            return None if self.sending or self.checked.problem is not None else True
        if action == "back":
            return None if self.sending else True
        return True

    # -- the preview (worker) ---------------------------------------------------------------------

    def _refresh_preview(self, *, delay: float = 0.0) -> None:
        """Recompute the preview for the editor's payload after ``delay``, unless the text cannot be sent at all."""
        self._preview_generation += 1
        checked = self.checked
        if checked.problem is not None:
            self.workers.cancel_group(self, "replay-preview")
            self.preview = PreviewState(note="waiting for valid JSON")
            return
        self.preview = PreviewState(preview=self.preview.preview, note="updating")
        self._ask_for_preview(checked.payload, self._preview_generation, delay)

    @work(exclusive=True, group="replay-preview", exit_on_error=False)
    async def _ask_for_preview(self, payload: dict[str, Any] | None, generation: int, delay: float) -> None:
        """Wait out ``delay``, then ask the service for the preview.

        The worker is exclusive, so each keystroke cancels the previous one while it still waits: the wait is
        the debounce, and as a worker it is something tests (and ``workers.wait_for_complete``) can see.
        """
        await asyncio.sleep(delay)
        try:
            state = PreviewState(preview=await preview_replay(self.services, self.run_id, payload=payload))
        except PayloadRejected as exc:
            state = PreviewState(problem="the replay would refuse this payload: " + "; ".join(exc.problems))
        except ReplayNotPossible as exc:
            state = PreviewState(problem=str(exc))
        except Exception as exc:
            state = PreviewState(problem=failure_text(exc, self.services.endpoints))
        if generation == self._preview_generation and self.is_attached:
            self.preview = state

    # -- the replay (worker) ----------------------------------------------------------------------

    def action_send(self) -> None:
        """Start the replay: no payload when unedited, the parsed object when edited."""
        checked = check_text(self.editor.text, self.pristine)
        self.checked = checked
        if self.sending or checked.problem is not None:
            return
        self.failure = None
        self.sending = True
        self.app.run_worker(self._replay(checked.payload), group="replay", exit_on_error=False)

    async def _replay(self, payload: dict[str, Any] | None) -> None:
        """Ask the service for the replay; the answer comes back as ``Started`` or ``Failed``.

        This runs as a worker of the app, not of the modal: escape is refused while it runs, but the app can
        still pop every screen (the palette's "Go to runs"), and a started replay must never go unannounced.
        """
        app = self.app
        outcome: ReplayModal.Started | ReplayModal.Failed
        try:
            # The module's ``replay_run`` is looked up at call time (tests wrap it to see what was sent).
            new_run_id = await replay_run(self.services, self.run_id, payload=payload, actor=Actor.current())
        except PayloadRejected as exc:
            outcome = self.Failed("The payload was rejected:", exc.problems)
        except LaunchFailed as exc:
            outcome = self.Failed("Temporal did not start the replay:", [str(exc)])
        except ReplayNotPossible as exc:
            outcome = self.Failed("This run cannot be replayed:", [str(exc)])
        except ServiceUnavailableError as exc:
            outcome = self.Failed("A service is unavailable:", [failure_text(exc, self.services.endpoints)])
        except Exception as exc:
            outcome = self.Failed("The replay failed:", [failure_text(exc, self.services.endpoints)])
        else:
            outcome = self.Started(new_run_id)
        if self.is_attached:
            self.post_message(outcome)
        elif isinstance(outcome, self.Started):
            app.notify(f"Replay started: {short_id(safe_text(outcome.run_id).plain)}", markup=False)
        else:
            reasons = "; ".join(outcome.problems)
            app.notify(safe_text(f"{outcome.heading} {reasons}").plain, severity="error", timeout=30, markup=False)

    def on_replay_modal_started(self, message: Started) -> None:
        """Done: the caller opens the new run."""
        self.sending = False
        self.dismiss(message.run_id)

    def on_replay_modal_failed(self, message: Failed) -> None:
        """Stay open with the reasons, so the payload can be fixed and sent again."""
        variables = self.app.theme_variables
        text = Text(f"✗ {message.heading}", style=role_style(variables, "error", bold=True))
        for problem in message.problems:
            text.append("\n  • ")
            text.append_text(safe_text(problem, style=role_style(variables, "error")))
        self.failure = text
        self.sending = False
        self.editor.focus()

    def action_back(self) -> None:
        """Close without replaying."""
        if not self.sending:
            self.dismiss(None)


def _json_language() -> str | None:
    """``json`` when tree-sitter and its JSON grammar are installed (``textual[syntax]``), else plain text."""
    from importlib.util import find_spec

    return "json" if find_spec("tree_sitter") and find_spec("tree_sitter_json") else None
