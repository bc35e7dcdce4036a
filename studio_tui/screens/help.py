"""The help overlay: the keys of the screen it was opened from, and what the symbols mean."""

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from studio_tui.format import RUN_STATUSES, STUCK_MARK, status_glyph
from studio_tui.widgets.cancel_banner import CANCEL_PENDING_MARK


def symbols(*, read_only: bool) -> Text:
    """What the list and run glyphs mean; read-only mode has no marks, so their line is left out."""
    return Text.assemble(
        ("Symbols\n", "bold"),
        "  ".join(f"{status_glyph(s)} {s}" for s in RUN_STATUSES),
        f"\n{STUCK_MARK}: RUNNING with no step for over 60 s (the run screen says why)",
        f"\n{CANCEL_PENDING_MARK}: a cancel Temporal accepted, waiting for a worker to unwind the run",
        "" if read_only else "\n▣: marked for a bulk cancel (space marks, u clears)",
        "\n#2: the second attempt of a retried step    ▸ then / else / try / catch / iteration N: a branch",
    )


SEARCH = Text.assemble(
    ("Search\n", "bold"),
    "Hex digits and dashes search run ids by prefix; anything else is a workflow id (exact).\n",
    "wf:ID searches a workflow id that looks like hex. Escape clears the search.",
)


class HelpScreen(ModalScreen[None]):
    """Keys and symbols; any of escape, ``?`` or ``q`` closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("question_mark", "close", "Close", show=False),
        Binding("q", "close", "Close", show=False),
    ]

    def __init__(
        self, title: str, keys: Sequence[tuple[str, str]], notes: Sequence[str] = (), *, read_only: bool = False
    ) -> None:
        """``keys`` are (key, what it does) pairs of the screen underneath, in order; ``notes`` say the rest.

        In ``read_only`` mode the caller passes only the keys and notes that work there; the symbols follow.
        """
        super().__init__()
        self._screen_name = title
        self._keys = keys
        self._notes = notes
        self._read_only = read_only

    def compose(self) -> ComposeResult:
        """One scrollable column of text."""
        width = max((len(key) for key, _ in self._keys), default=0)
        mode = " (read-only: nothing that changes a run)" if self._read_only else ""
        heading = f"Keys — {self._screen_name}{mode}"
        keys = Text.assemble((heading + "\n", "bold"))
        for key, description in self._keys:
            keys.append(f"{key:>{width}}", style="bold")
            keys.append(f"  {description}\n")
        with VerticalScroll(id="help-body"):
            yield Static(keys, markup=False)
            for note in self._notes:
                yield Static(Text(note), markup=False, classes="help-note")
            yield Static(symbols(read_only=self._read_only), markup=False)
            yield Static(SEARCH, markup=False)
            yield Static(Text("escape closes this help", style="dim"), markup=False)

    def action_close(self) -> None:
        """Back to the screen underneath."""
        self.dismiss()
