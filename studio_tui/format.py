"""How the studio spells statuses, times and durations: glyphs, colour roles and compact, 80-column text.

Pure functions (no Textual): a status always has a glyph *and* a word, so it reads the same without colour
(``NO_COLOR``) and to a screen reader. Colours are named by role (``success``, ``error``…) and resolved from
the running theme, never hard-coded.
"""

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Final, Protocol

from rich.style import Style
from rich.text import Text

from engine.services.when import ago as ago  # one spelling of relative times, shared with the CLI
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


def until_time(value: datetime, now: datetime) -> str:
    """When a timer fires, in UTC: ``14:05`` today, ``06-03 14:05`` another day."""
    value, now = value.astimezone(UTC), now.astimezone(UTC)
    return value.strftime("%H:%M" if value.date() == now.date() else "%m-%d %H:%M")


class WhyRow(Protocol):
    """What the why column reads of a run (``engine.services.runs.RunSummary``)."""

    @property
    def status(self) -> str: ...
    @property
    def stuck(self) -> bool: ...
    @property
    def started_at(self) -> datetime: ...
    @property
    def error_category(self) -> str | None: ...
    @property
    def error_line(self) -> str | None: ...
    @property
    def wait_type(self) -> str | None: ...
    @property
    def wait_event(self) -> str | None: ...
    @property
    def wait_key(self) -> str | None: ...
    @property
    def wait_timeout_at(self) -> datetime | None: ...
    @property
    def task_title(self) -> str | None: ...
    @property
    def current_step(self) -> str | None: ...


def why_text(run: WhyRow, now: datetime, variables: Mapping[str, str], *, workers: int | None = None) -> Text:
    """One line saying why a run is where it is: its error, its wait, its step, or why it is stuck.

    Every part read from the database goes through ``safe_text``; the cell truncates it to the column.
    """
    text = Text(no_wrap=True, overflow="ellipsis")
    if run.stuck:
        # "5m ago" → "no step for 5m": the same spelling of a span as everywhere else.
        waited = ago(run.started_at, now).removesuffix(" ago")
        reason = "no worker polls" if workers == 0 else f"no step for {waited}"
        text.append(f"{STUCK_MARK}: {reason}", style=role_style(variables, "warning", bold=True))
    elif run.status in ("FAILED", "CANCELED"):
        if run.error_category:
            text.append_text(safe_text(run.error_category, single_line=True))
            text.stylize(role_style(variables, status_role(run.status), bold=True))
            if run.error_line:
                text.append(": ")
        if run.error_line:
            text.append_text(safe_text(run.error_line, single_line=True))
    elif run.status == "WAITING":
        text.append_text(_wait_text(run, now))
    elif run.status == "RUNNING" and run.current_step:
        text.append("▸ ", style="dim")
        text.append_text(safe_text(run.current_step, single_line=True))
    return text


def _wait_text(run: WhyRow, now: datetime) -> Text:
    text = Text()
    if run.wait_type == "time" and run.wait_timeout_at is not None:
        text.append(f"timer until {until_time(run.wait_timeout_at, now)}")
    elif run.wait_type == "event":
        text.append("event ")
        text.append_text(safe_text(run.wait_event or "?", single_line=True))
        if run.wait_key is not None:
            text.append(" key ")
            text.append_text(safe_text(run.wait_key, single_line=True))
    elif run.task_title:
        text.append("task: ")
        text.append_text(safe_text(run.task_title, single_line=True))
    elif run.wait_type == "human":
        text.append("human task")
    return text
