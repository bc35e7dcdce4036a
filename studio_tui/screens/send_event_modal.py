"""``SendEventModal``: send the event a WAITING run waits for, from its run screen.

Name and correlation key are prefilled from the run's open event wait (and may be changed); the payload is
a JSON object typed in an editor that says, as it is typed, whether it parses. The event goes through the
same ``submit_event`` as ``runstudio event send``, so it is recorded and routed to every waiting run, not only
this one. Dismissed with the event's outcome, or ``None`` when backed out.
"""

import json
from typing import Any, ClassVar, Final

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static, TextArea

from engine.services.context import ServiceContext
from engine.services.ingress import EventOutcome, submit_event
from studio_tui.failures import failure_text
from studio_tui.format import role_style
from studio_tui.sanitize import safe_text
from studio_tui.widgets.studio_footer import StudioFooter

STARTING_PAYLOAD: Final = "{}"
KEYS: Final = "ctrl+s send · tab next field · escape back"


def parse_payload(text: str) -> tuple[dict[str, Any] | None, str | None]:
    """The payload the editor's ``text`` would send, or why it cannot be sent (line and column for bad JSON)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
    if not isinstance(value, dict):
        return None, "the payload must be a JSON object"
    return value, None


class SendEventModal(ModalScreen[EventOutcome | None]):
    """Event name, correlation key and a JSON payload editor; ctrl+s sends, escape backs out."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "send", "Send event", priority=True),
        Binding("escape", "dismiss_modal", "Back", priority=True),
    ]

    def __init__(
        self, services: ServiceContext, *, event_name: str, correlation_key: str | None, condition: str = ""
    ) -> None:
        super().__init__()
        self.services = services
        self.event_name = event_name
        self.correlation_key = correlation_key
        self.condition = condition
        """The wait's filters in words (from the definition: untrusted text)."""
        self._sending = False

    def compose(self) -> ComposeResult:
        """Name and key fields, the payload editor, and the state line."""
        with Vertical(id="event-body") as body:
            body.border_title = "Send event"
            body.border_subtitle = KEYS
            with Horizontal(classes="event-field"):
                yield Static("Event", classes="event-label", markup=False)
                yield Input(self.event_name, id="event-name")
            with Horizontal(classes="event-field"):
                yield Static("Key", classes="event-label", markup=False)
                yield Input(self.correlation_key or "", id="event-key", placeholder="none: derived by the rule")
            hint = Text("The run matches it only ")
            hint.append_text(safe_text(f"where {self.condition}" if self.condition else "by name and key"))
            hint.append(". Every run waiting on this name and key receives it.")
            yield Static(hint, id="event-hint", markup=False)
            yield Static("Payload (a JSON object)", id="event-payload-label", markup=False)
            yield TextArea(STARTING_PAYLOAD, id="event-payload", language="json", show_line_numbers=True)
            yield Static(id="event-state", markup=False)
        yield StudioFooter()  # keeps Help and Quit at 80 columns (issue 13)

    def on_mount(self) -> None:
        """Start in the payload editor with its text selected (typing replaces it): name and key are usually right."""
        editor = self.query_one("#event-payload", TextArea)
        editor.focus()
        editor.select_all()
        self._show_state()

    @on(TextArea.Changed)
    def _edited(self) -> None:
        self._show_state()

    def _show_state(self, problem: str | None = None) -> None:
        line = self.query_one("#event-state", Static)
        _, invalid = parse_payload(self.query_one("#event-payload", TextArea).text)
        reason = problem or invalid
        if reason is None:
            line.update(Text("Valid JSON — ctrl+s sends it", style=role_style(self.app.theme_variables, "success")))
            return
        text = Text("✗ ", style=role_style(self.app.theme_variables, "error", bold=True))
        text.append_text(safe_text(reason, style=role_style(self.app.theme_variables, "error")))
        line.update(text)

    def action_dismiss_modal(self) -> None:
        """Back to the run; nothing was sent."""
        if not self._sending:
            self.dismiss(None)

    def action_send(self) -> None:
        """Send the event when the payload parses and a name is given."""
        payload, problem = parse_payload(self.query_one("#event-payload", TextArea).text)
        name = self.query_one("#event-name", Input).value.strip()
        if not name:
            problem = "the event needs a name"
        if payload is None or problem is not None or self._sending:
            self._show_state(problem)
            return
        key = self.query_one("#event-key", Input).value.strip() or None
        self._sending = True
        self._send(name, key, payload)

    @work(exclusive=True, exit_on_error=False, group="send-event")
    async def _send(self, name: str, key: str | None, payload: dict[str, Any]) -> None:
        try:
            outcome = await submit_event(self.services, name, payload, correlation_key=key)
        except Exception as exc:
            self._sending = False
            self._show_state(f"not sent: {failure_text(exc, self.services.endpoints)}")
            return
        self.dismiss(outcome)
