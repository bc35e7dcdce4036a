"""``ConfirmModal``: a yes/no question about something consequential; dismissed with ``True`` only on a yes."""

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from studio_tui.sanitize import safe_text
from studio_tui.widgets.studio_footer import StudioFooter


class ConfirmModal(ModalScreen[bool]):
    """Ask before doing something: ``y`` (or the confirm button) says yes; ``n``, escape or Back say no.

    The safe answer has the focus, so a stray enter changes nothing. A ``str`` message is shown as plain
    text (no markup, terminal controls replaced); pass a ``Text`` to style it — its untrusted parts must
    already have gone through ``safe_text``.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "confirm", "Yes"),
        Binding("n", "back", "No", show=False),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self, title: str, message: str | Text, confirm_label: str = "Confirm") -> None:
        """``title`` heads the dialog, ``message`` asks the question, ``confirm_label`` names the yes button."""
        super().__init__()
        self._title = title
        self._message = message
        self._confirm_label = confirm_label

    def compose(self) -> ComposeResult:
        """The question and two buttons; the footer shows the keys."""
        message = self._message if isinstance(self._message, Text) else safe_text(self._message)
        with Vertical(id="confirm-body"):
            yield Static(message, id="confirm-message", markup=False)
            with Horizontal(id="confirm-buttons"):
                yield Button(f"{self._confirm_label} (y)", id="confirm-yes", variant="error", compact=True)
                yield Button("Back (esc)", id="confirm-no", compact=True)
        yield StudioFooter()  # keeps Help and Quit at 80 columns (issue 13)

    def on_mount(self) -> None:
        """Title the dialog and put the focus on the safe answer."""
        self.query_one("#confirm-body").border_title = safe_text(self._title, single_line=True)
        self.query_one("#confirm-no", Button).focus()

    def action_confirm(self) -> None:
        """Yes."""
        self.dismiss(True)

    def action_back(self) -> None:
        """No: nothing happens."""
        self.dismiss(False)

    @on(Button.Pressed, "#confirm-yes")
    def _yes_pressed(self) -> None:
        self.action_confirm()

    @on(Button.Pressed, "#confirm-no")
    def _no_pressed(self) -> None:
        self.action_back()
