"""How the services name a moment to people, in outcomes, refusals and banners."""

from datetime import UTC, datetime


def format_when(moment: datetime) -> str:
    """A timestamp as operators read it: ``2026-11-30 21:52:34 UTC`` (always UTC, whatever the host zone)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
