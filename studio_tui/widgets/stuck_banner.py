"""The queued-warning banner: a run that is RUNNING but has started no step for over 60 s says so, and why."""

from rich.text import Text
from textual.widgets import Static

from studio_tui.format import short_id
from studio_tui.sanitize import safe_text

ASKING = "asking Temporal…"
REASON_LIMIT = 240
"""Characters of the reason shown, so the banner stays at most four lines high at 80 columns."""


class StuckBanner(Static):
    """Hidden unless the run is stuck; then it names the run and the most precise reason known."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, markup=False)
        self.display = False

    def show_stuck(self, run_id: str, reason: str) -> None:
        """Show the banner for ``run_id`` with ``reason`` (``ASKING`` while the diagnosis is under way)."""
        text = Text("⚠ QUEUED, NOT RUNNING", style="bold")
        text.append(" — run ")
        text.append_text(safe_text(short_id(run_id), single_line=True, style="bold"))
        text.append(" has started no step for over 60 s.\nWhy: ")
        shown = reason if len(reason) <= REASON_LIMIT else reason[:REASON_LIMIT] + "…"
        text.append_text(safe_text(shown))
        self.update(text)
        self.display = True

    def hide(self) -> None:
        """The run is not (or no longer) stuck."""
        self.display = False
