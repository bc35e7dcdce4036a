"""The runs list's filter values as people type them: ``15m``, ``2025-06-02T09:00``, ``schedule``, ``duration``.

Shared by the CLI (``runstudio runs --since 1h``) and the studio (``:since 1h``), so both accept and refuse
the same text with the same sentence.

Light on purpose: it is imported to check a command line before anything is queried, so it names the
sorts only for type checking (the store's list module loads the driver) and takes the statuses from
``engine.run_status`` rather than the workflow contracts.
"""

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Final, cast

from engine.inbound import InboundRejected
from engine.run_status import RUN_STATUSES as RUN_STATUSES

if TYPE_CHECKING:
    from engine.store.run_list import RunSort

TRIGGERS: Final = ("manual", "event", "replay", "child", "schedule")

_DURATION = re.compile(r"(\d{1,6})\s*(s|m|h|d|w)")
_UNIT_SECONDS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> timedelta:
    """``15m``, ``1h``, ``24h``, ``7d`` (also ``s`` and ``w``) as a duration; ``InboundRejected`` otherwise."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None or int(match.group(1)) == 0:
        raise InboundRejected(
            "since", "$", f"{ascii(text)[:40]} is not a duration; use a number and a unit, e.g. 15m, 1h, 24h, 7d"
        )
    return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def parse_time(text: str, *, what: str = "time") -> datetime:
    """An ISO 8601 date or time (``2025-06-02``, ``2025-06-02T09:00``, with or without offset; UTC if none)."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InboundRejected(what, "$", f"{ascii(text)[:40]} is not an ISO time such as 2025-06-02T09:00Z") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def parse_since(text: str, now: datetime) -> datetime:
    """The start of a time range: ``now`` minus a duration (``1h``), or an ISO time."""
    if text.strip()[:1].isdigit() and _DURATION.fullmatch(text.strip().lower()):
        return now - parse_duration(text)
    return parse_time(text, what="since")


def check_trigger(trigger: str) -> str:
    """A known trigger, lowercased; ``InboundRejected`` otherwise."""
    value = trigger.strip().lower()
    if value not in TRIGGERS:
        raise InboundRejected(
            "trigger filter", "$", f"unknown trigger {ascii(trigger)[:40]}; use one of {', '.join(TRIGGERS)}"
        )
    return value


def check_sort(sort: str) -> "RunSort":
    """A known sort, lowercased; ``InboundRejected`` otherwise."""
    from engine.store.run_list import RUN_SORTS  # only when a sort is given: the module loads asyncpg

    value = sort.strip().lower()
    if value not in RUN_SORTS:
        raise InboundRejected("sort", "$", f"unknown sort {ascii(sort)[:40]}; use one of {', '.join(RUN_SORTS)}")
    return cast("RunSort", value)


def check_status(status: str) -> str:
    """A known run status, uppercased (``failed`` is FAILED); ``InboundRejected`` otherwise."""
    value = status.strip().upper()
    if value not in RUN_STATUSES:
        raise InboundRejected(
            "status filter", "$", f"unknown status {ascii(status)[:40]}; use one of {', '.join(RUN_STATUSES)}"
        )
    return value


def first_line(message: str, limit: int = 200) -> str:
    """The first non-empty line of ``message``, at most ``limit`` characters (a list shows one line)."""
    for line in message.splitlines():
        if line.strip():
            return line.strip()[:limit]
    return ""
