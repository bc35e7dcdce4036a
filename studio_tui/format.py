"""How the studio spells statuses, times and durations: glyphs, colour roles and compact, 80-column text.

Pure functions (no Textual): a status always has a glyph *and* a word, so it reads the same without colour
(``NO_COLOR``) and to a screen reader. Colours are named by role (``success``, ``error``…) and resolved from
the running theme, never hard-coded.
"""

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Final

from rich.style import Style
from rich.text import Text

from studio_tui.sanitize import safe_text

RUN_STATUSES: Final = ("RUNNING", "WAITING", "SUCCEEDED", "FAILED", "CANCELED")
TERMINAL_STATUSES: Final = frozenset({"SUCCEEDED", "FAILED", "CANCELED"})

_LOOK: Final[dict[str, tuple[str, str]]] = {
    # run statuses
    "RUNNING": ("●", "primary"),
    "WAITING": ("◷", "warning"),
    "SUCCEEDED": ("✓", "success"),
    "FAILED": ("✗", "error"),
    "CANCELED": ("⊘", "muted"),
    # step statuses (STARTED is a step still running)
    "STARTED": ("●", "primary"),
    # wait statuses
    "RESOLVED": ("✓", "success"),
    "TIMED_OUT": ("⌛", "error"),
    # human task statuses
    "OPEN": ("◷", "warning"),
    "COMPLETED": ("✓", "success"),
}

STUCK_MARK: Final = "⚠ stuck"


def status_glyph(status: str) -> str:
    """The one-cell glyph of a run, step, wait or invocation status (``?`` for one this build does not know)."""
    return _LOOK.get(status, ("?", "muted"))[0]


def status_role(status: str) -> str:
    """The colour role of a status: ``primary``, ``warning``, ``success``, ``error`` or ``muted``."""
    return _LOOK.get(status, ("?", "muted"))[1]


def role_style(variables: Mapping[str, str], role: str, *, bold: bool = False) -> Style:
    """A Rich style for a colour role, taken from the theme's CSS variables (``App.theme_variables``).

    The theme's ``text-<role>`` shade is preferred: it is the one made legible on the theme's background.
    """
    if role == "muted":
        return Style(dim=True, bold=bold)
    color = variables.get(f"text-{role}") or variables.get(role)
    return Style(color=color, bold=bold) if color else Style(bold=bold)


def status_text(status: str, variables: Mapping[str, str]) -> Text:
    """``● RUNNING`` in the status's colour (the word is read from the database, so it is sanitised too)."""
    text = Text(f"{status_glyph(status)} ", no_wrap=True, overflow="ellipsis")
    text.append_text(safe_text(status, single_line=True))
    text.stylize(role_style(variables, status_role(status)))
    return text


def short_id(run_id: str) -> str:
    """The first 8 characters of a run id: what people read out and type into the search."""
    return run_id[:8]


def ago(then: datetime, now: datetime) -> str:
    """Relative time in at most 8 cells: ``just now``, ``42s ago``, ``12m ago``, ``5h ago``, ``3d ago``."""
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


def duration(value: timedelta | int | None) -> str:
    """A duration in at most 6 cells: ``450ms``, ``12.3s``, ``4m05s``, ``1h02m``, ``3d04h``; ``–`` when unknown.

    ``value`` is a ``timedelta`` or milliseconds.
    """
    if value is None:
        return "–"
    ms = int(value.total_seconds() * 1000) if isinstance(value, timedelta) else value
    if ms < 0:
        return "–"
    if ms < 1000:
        return f"{ms}ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f}s"
    seconds = ms // 1000
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


def elapsed(started: datetime, completed: datetime | None, now: datetime) -> timedelta:
    """How long something ran: to ``completed``, or to ``now`` while it is still going."""
    return (completed or now) - started


def clock_time(value: datetime) -> str:
    """Time of day in UTC to the millisecond, ``09:18:00.040Z`` (for steps, which are short)."""
    return value.astimezone(UTC).strftime("%H:%M:%S.%f")[:-3] + "Z"


def timestamp(value: datetime | None) -> str:
    """An absolute UTC time, ``2025-06-02 09:30:05Z``; ``–`` when absent."""
    if value is None:
        return "–"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
