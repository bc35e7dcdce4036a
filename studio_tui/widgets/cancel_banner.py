"""The pending-cancel banner: Temporal accepted a cancel that no worker has applied yet, and the run says so.

Without it a run whose cancel is pending looks exactly like a run nobody touched: RUNNING, and stuck.
"""

from datetime import datetime
from typing import Final

from rich.text import Text
from textual.widgets import Static

from engine.services.when import format_when
from studio_tui.sanitize import safe_text

CANCEL_PENDING_MARK: Final = "×"
"""The runs list's marker after the status of a run whose cancel is pending (⊘ is CANCELED itself)."""

PENDING_STATUSES: Final = frozenset({"RUNNING", "WAITING"})


def cancel_pending(status: str, requested_at: datetime | None) -> bool:
    """Whether a cancel was accepted but the run has not unwound yet (it is still open)."""
    return requested_at is not None and status in PENDING_STATUSES


class CancelBanner(Static):
    """Hidden unless the run's cancel is pending; then it says when, by whom, and what it is waiting for."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, markup=False)
        self.display = False

    def show_pending(self, requested_at: datetime, requested_by: str | None) -> None:
        """Show ``cancel requested at T by U — waiting for a worker to unwind it``."""
        text = Text(f"{CANCEL_PENDING_MARK} cancel requested", style="bold")
        text.append(f" at {format_when(requested_at)} by ")
        # The user name comes from the database: shown as text, never as markup or escape sequences.
        text.append_text(safe_text(requested_by or "an unknown user", single_line=True, style="bold"))
        text.append(" — waiting for a worker to unwind it")
        self.update(text)
        self.display = True

    def hide(self) -> None:
        """No cancel is pending (none was asked for, or the run has ended)."""
        self.display = False
