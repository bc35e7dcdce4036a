"""How the services, the CLI and the studio name a moment to people: one spelling everywhere."""

from datetime import UTC, datetime


def format_when(moment: datetime) -> str:
    """A timestamp as operators read it: ``2026-11-30 21:52:34 UTC`` (always UTC, whatever the host zone)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def ago(then: datetime, now: datetime) -> str:
    """Relative time in at most 8 cells: ``just now``, ``42s ago``, ``12m ago``, ``5h ago``, ``3d ago``.

    A moment still ahead reads ``in 4m``. The studio's columns and the CLI's tables both use it, so a run
    reads "10m ago" in either.
    """
    seconds = int((now - then).total_seconds())
    if seconds < 0:
        return "in " + _span(-seconds)
    if seconds < 1:
        return "just now"
    return _span(seconds) + " ago"


def _span(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"
