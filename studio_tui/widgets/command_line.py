"""The ``:`` command line of the runs list (as in k9s): hidden until ``:``, one command, then gone."""

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Input


class CommandLine(Input):
    """An input shown on ``:``; Enter posts ``CommandLine.Run`` with the text, Escape hides it unchanged."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss", "Close", show=False)]

    class Run(Message):
        """The operator entered ``command`` (without the colon)."""

        def __init__(self, command: str) -> None:
            self.command = command
            super().__init__()

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(
            placeholder="status failed · since 1h · wf echo · stuck · trigger T · sort duration",
            id=id,
            select_on_focus=False,  # the colon stays: typing goes after it
        )
        self.display = False

    def open(self) -> None:
        """Show the line with its colon, as k9s does, and the cursor after it."""
        self.value = ":"
        self.display = True
        self.focus()
        self.cursor_position = 1

    def action_dismiss(self) -> None:
        """Hide the line; nothing changes."""
        self.display = False
        self.value = ""
        self.screen.focus_next()

    async def action_submit(self) -> None:
        """Hand the command to the screen and hide the line."""
        command = self.value.strip().removeprefix(":")
        self.display = False
        self.value = ""
        self.post_message(self.Run(command))
