"""Messages that travel up to the app from any screen (screen-local messages live beside their screen)."""

from textual.message import Message


class OpenRun(Message):
    """Please show this run (the app pushes the run screen)."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        super().__init__()
