"""What the runs list shows, and the ``:`` commands that change it (``:status failed``, ``:since 1h``, ``:wf echo``).

Pure (no Textual, no I/O): the screen keeps a ``RunQuery``, hands ``list_kwargs()`` to the services, and
turns a typed command into a new query with ``apply_command``. Values are checked by the same functions
the CLI uses (``engine.services.run_filters``), so both refuse the same text the same way.
"""

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from engine.inbound import InboundRejected
from engine.services import run_filters
from engine.store.run_list import RunSort

COMMANDS: Final = (
    ("status S|all", "only runs in that status"),
    ("since 15m|1h|24h|7d|ISO", "started in the last …, or since that time"),
    ("until ISO", "started before that time"),
    ("wf PREFIX", "workflow id starts with (any case)"),
    ("stuck [off]", "only stuck runs"),
    ("trigger T|all", "manual, event, replay, child or schedule"),
    ("sort started|duration|status", "order of the list"),
    ("clear", "every filter off"),
)
"""The command line's commands and what they do (for help and for the error of an unknown command)."""


class CommandError(ValueError):
    """A command that cannot be applied; the message says what would work."""


@dataclass(frozen=True)
class RunQuery:
    """The filters and order of the runs list (a page that arrives for another query is dropped)."""

    status: str | None = None
    workflow_id: str | None = None
    """Exact workflow id (``wf:ID`` in the search box is a prefix; this stays for callers that need exact)."""
    workflow_prefix: str | None = None
    run_id_prefix: str | None = None
    trigger: str | None = None
    stuck: bool = False
    since: timedelta | datetime | None = None
    """A duration back from now (re-evaluated at each refresh) or a fixed time."""
    until: datetime | None = None
    sort: RunSort = "started"

    def list_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``list_runs`` / ``count_runs`` for these filters (the sort is separate)."""
        return {
            "status": self.status,
            "workflow_id": self.workflow_id,
            "workflow_prefix": self.workflow_prefix,
            "run_id_prefix": self.run_id_prefix,
            "trigger": self.trigger,
            "stuck": self.stuck,
            "since": self.since,
            "until": self.until,
        }

    @property
    def narrowed(self) -> bool:
        """Any filter beyond status and search is on."""
        return bool(self.trigger or self.stuck or self.since or self.until)


def describe(query: RunQuery) -> list[str]:
    """The filters beyond status and search, as short words: ``since 1h``, ``stuck``, ``sort duration``.

    Values come from the operator but are still shown through ``safe_text`` by the caller.
    """
    parts: list[str] = []
    if isinstance(query.since, timedelta):
        parts.append(f"since {_span(query.since)}")
    elif isinstance(query.since, datetime):
        parts.append(f"since {_iso(query.since)}")
    if query.until is not None:
        parts.append(f"until {_iso(query.until)}")
    if query.stuck:
        parts.append("stuck")
    if query.trigger:
        parts.append(f"trigger {query.trigger}")
    if query.sort != "started":
        parts.append(f"sort {query.sort}")
    return parts


def _span(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%MZ")


def apply_command(query: RunQuery, text: str) -> RunQuery:
    """The query after the command ``text`` (without its ``:``); ``CommandError`` says why not."""
    words = text.strip().split()
    if not words:
        return query
    name, args = words[0].lower(), words[1:]
    value = " ".join(args)
    try:
        return _apply(query, name, value)
    except InboundRejected as exc:
        raise CommandError(str(exc).split(": ", 1)[-1]) from None


def _apply(query: RunQuery, name: str, value: str) -> RunQuery:
    off = value.lower() in ("", "all", "off", "any")
    if name == "status":
        return replace(query, status=None if off else run_filters.check_status(value))
    if name == "since":
        if off:
            return replace(query, since=None)
        if value[:1].isdigit() and value.strip()[-1:].lower() in "smhdw" and "-" not in value:
            return replace(query, since=run_filters.parse_duration(value))
        return replace(query, since=run_filters.parse_time(value, what="since"))
    if name == "until":
        return replace(query, until=None if off else run_filters.parse_time(value, what="until"))
    if name in ("wf", "workflow"):
        return replace(query, workflow_prefix=value or None, workflow_id=None)
    if name == "stuck":
        if value.lower() not in ("", "on", "off"):
            raise CommandError("stuck takes nothing, or off")
        return replace(query, stuck=value.lower() != "off")
    if name == "trigger":
        return replace(query, trigger=None if off else run_filters.check_trigger(value))
    if name == "sort":
        return replace(query, sort=run_filters.check_sort(value or "started"))
    if name == "clear":
        return RunQuery()
    known = ", ".join(usage.split()[0] for usage, _ in COMMANDS)
    raise CommandError(f"unknown command {name!r}; try one of {known}")
