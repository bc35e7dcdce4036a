"""The "↑ 3 new" marker: runs that arrived above the cursor while the operator was looking further down."""

from rich.text import Text
from textual.widgets import Static

from studio_tui.steady import show_text


class NewRunsMarker(Static):
    """Shows how many runs arrived above the cursor, and the key that goes to them; hidden at zero."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, markup=False)
        self.display = False

    def show_count(self, count: int) -> None:
        """Show ``count`` new runs (hide at zero)."""
        self.display = count > 0
        if count > 0:
            show_text(self, Text.assemble((f" ↑ {count} new ", "reverse bold"), (" t: to the top", "dim")))
