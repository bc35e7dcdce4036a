"""The runs list's query: keyset pages under any mix of filters and sorts, each row with what it waits on.

One statement per page. Each row carries its "why" — the open wait, the open human task and the step in
progress — through ``LEFT JOIN LATERAL`` lookups on those tables' primary keys, done only for the rows of the
page (and only for WAITING/RUNNING ones), never as a query per row.

The statement is assembled from fixed fragments, so each filter combination is its own prepared statement,
planned onto its index (``0001`` and ``0005``); a catch-all ``($2 IS NULL OR …)`` statement would get a
generic plan that cannot use them. Every value is a parameter; the tenant is always ``$1``.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Literal, Protocol, get_args

import asyncpg
from pydantic import BaseModel

from engine.store.db import Conn
from engine.store.runs import RUN_COLUMNS, RunRow, run_row

RunSort = Literal["started", "duration", "status"]
"""Newest first; longest first (open runs first, oldest of them first); by status, then newest first."""
RUN_SORTS: Final[tuple[str, ...]] = get_args(RunSort)

OPEN_DURATION: Final = timedelta(days=36_500_000)
"""The duration an open run sorts by: longer than any finished run, and still a finite keyset value."""
_DURATION: Final = "coalesce(r.completed_at - r.started_at, interval '36500000 days')"
"""The duration sort key; exactly the expression of the ``workflow_runs_by_duration`` index."""

_PREFIX_END: Final = "\U0010ffff"
"""Appended to a prefix, the smallest text (bytewise) greater than every text that starts with it."""

Keyset = tuple[Any, ...]
"""The sort key of the last row of a page: (started_at, run_id), (status, started_at, run_id) or
(duration, started_at, run_id); see ``keyset_of``."""


@dataclass(frozen=True)
class RunFilter:
    """What the list shows; ``None`` is "any". Text filters arrive already checked by the service."""

    status: str | None = None
    workflow_id: str | None = None
    """Exact workflow id."""
    workflow_prefix: str | None = None
    """Start of the workflow id, compared lowercased (pass it lowercased)."""
    run_id_prefix: str | None = None
    """Start of the run id (lowercase hex and dashes)."""
    trigger: str | None = None
    stuck_before: datetime | None = None
    """Only stuck runs: RUNNING, no step, started before this."""
    since: datetime | None = None
    """Started at or after."""
    until: datetime | None = None
    """Started before."""
    run_ids: list[str] | None = None
    """Only these runs (the studio re-reads the rows on screen by id rather than its whole window)."""


class ListRow(RunRow):
    """A run as the list shows it: the stored run plus what it is waiting on or doing now."""

    wait_type: str | None = None
    wait_event: str | None = None
    wait_key: str | None = None
    wait_timeout_at: datetime | None = None
    task_title: str | None = None
    current_step_id: str | None = None


class SummaryRow(BaseModel):
    """A run as the list shows it, and nothing more: no input, vars or output to decode.

    ``error`` and ``input`` are read only for runs that failed (the error's first line is redacted with the
    run's input); for every other run both are ``None``.
    """

    run_id: str
    workflow_id: str
    workflow_version: int
    status: str
    trigger: str
    step_count: int
    started_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    cancel_requested_at: datetime | None
    cancel_requested_by: str | None
    error: dict[str, Any] | None
    input: dict[str, Any] | None
    wait_type: str | None = None
    wait_event: str | None = None
    wait_key: str | None = None
    wait_timeout_at: datetime | None = None
    task_title: str | None = None
    current_step_id: str | None = None


# The list's own columns. The JSON a run carries (input, vars, output: kilobytes each) was most of a page's
# cost once the query itself took a millisecond; only a failed run's error and input are still read.
SUMMARY_COLUMNS: Final = """r.run_id::text AS run_id, r.workflow_id, r.workflow_version, r.status, r.trigger,
       r.step_count, r.started_at, r.updated_at, r.completed_at, r.cancel_requested_at, r.cancel_requested_by,
       r.error_json AS error,
       CASE WHEN r.error_json IS NOT NULL THEN coalesce(r.input_redacted, r.input_json) END AS input"""

_WHY_COLUMNS: Final = """,
       w.wait_type, w.event_name AS wait_event, w.correlation_key AS wait_key, w.timeout_at AS wait_timeout_at,
       t.title AS task_title, s.step_id AS current_step_id"""

_WHY_JOINS: Final = """
  LEFT JOIN LATERAL (
       SELECT wait_type, event_name, correlation_key, timeout_at FROM workflow_run_waits
        WHERE r.status = 'WAITING' AND tenant = r.tenant AND run_id = r.run_id AND status = 'WAITING'
        ORDER BY seq DESC LIMIT 1) w ON true
  LEFT JOIN LATERAL (
       SELECT title FROM workflow_tasks
        WHERE r.status = 'WAITING' AND tenant = r.tenant AND run_id = r.run_id AND status = 'OPEN'
        ORDER BY seq DESC LIMIT 1) t ON true
  LEFT JOIN LATERAL (
       SELECT step_id FROM workflow_run_steps
        WHERE r.status = 'RUNNING' AND tenant = r.tenant AND run_id = r.run_id AND status = 'STARTED'
        ORDER BY seq DESC, attempt DESC LIMIT 1) s ON true"""

# Filter fragments in parameter order; "{}" are parameter numbers.
_FILTERS: Final[tuple[tuple[str, str], ...]] = (
    ("status", "r.status = ${}"),
    ("workflow_id", "r.workflow_id = ${}"),
    ("workflow_prefix", "lower(r.workflow_id) ~>=~ ${} AND lower(r.workflow_id) ~<~ ${}"),
    ("run_id_prefix", "r.run_id::text LIKE ${} || '%'"),
    ("trigger", "r.trigger = ${}"),
    ("stuck_before", "r.status = 'RUNNING' AND r.step_count = 0 AND r.started_at < ${}"),
    ("since", "r.started_at >= ${}"),
    ("until", "r.started_at < ${}"),
    ("run_ids", "r.run_id = ANY(${}::uuid[])"),
)

_ORDER: Final[dict[str, str]] = {
    "started": "r.started_at DESC, r.run_id DESC",
    "status": "r.status, r.started_at DESC, r.run_id DESC",
    "duration": f"{_DURATION} DESC, r.started_at, r.run_id",
}

# The same orders walked from the other end (every column flipped, so the same index is read backwards): the
# studio reads the page before its window, or the last page of the list, without reading what lies between.
_REVERSE_ORDER: Final[dict[str, str]] = {
    "started": "r.started_at, r.run_id",
    "status": "r.status DESC, r.started_at, r.run_id",
    "duration": f"{_DURATION}, r.started_at DESC, r.run_id DESC",
}

# After the last row of a page, newest first: one row comparison the index seeks to (walking backwards: the
# rows before it).
_AFTER_STARTED: Final = "(r.started_at, r.run_id) < (${}::timestamptz, ${}::uuid)"
_BEFORE_STARTED: Final = "(r.started_at, r.run_id) > (${}::timestamptz, ${}::uuid)"

# The other sorts mix directions (status up, time down), which no single row comparison expresses. Their
# next page is two index-ordered scans glued end to end: the rest of the last row's group, then the
# groups after it; each stops at a page.
_AFTER_SPLIT: Final[dict[str, tuple[str, str]]] = {
    "status": ("r.status = ${0} AND (r.started_at, r.run_id) < (${1}::timestamptz, ${2}::uuid)", "r.status > ${0}"),
    "duration": (
        f"{_DURATION} = ${{0}}::interval AND (r.started_at, r.run_id) > (${{1}}::timestamptz, ${{2}}::uuid)",
        f"{_DURATION} < ${{0}}::interval",
    ),
}
_BEFORE_SPLIT: Final[dict[str, tuple[str, str]]] = {
    "status": ("r.status = ${0} AND (r.started_at, r.run_id) > (${1}::timestamptz, ${2}::uuid)", "r.status < ${0}"),
    "duration": (
        f"{_DURATION} = ${{0}}::interval AND (r.started_at, r.run_id) < (${{1}}::timestamptz, ${{2}}::uuid)",
        f"{_DURATION} > ${{0}}::interval",
    ),
}


def _filter_values(where: RunFilter) -> list[tuple[str, list[Any]]]:
    values: list[tuple[str, list[Any]]] = []
    for name, _ in _FILTERS:
        value = getattr(where, name)
        if value is None:
            continue
        values.append((name, [value, value + _PREFIX_END] if name == "workflow_prefix" else [value]))
    return values


def _where(where: RunFilter) -> tuple[list[str], int]:
    """The WHERE clauses (tenant first) and the next free parameter number."""
    fragments = dict(_FILTERS)
    clauses = ["r.tenant = $1"]
    n = 2
    for name, values in _filter_values(where):
        fragment = fragments[name]
        clauses.append(fragment.format(*range(n, n + len(values))))
        n += len(values)
    return clauses, n


def page_sql(
    where: RunFilter, *, sort: RunSort = "started", after: bool = False, summary: bool = False, reverse: bool = False
) -> str:
    """The page query for one combination of filters and sort; parameters: tenant, filters, keyset, limit.

    ``summary`` selects only the list's columns (``SummaryRow``) instead of every column of the run.
    ``reverse`` walks the order backwards: the rows before the keyset (or the last rows of the list, without
    one), nearest first; the caller turns them back into list order.
    """
    clauses, n = _where(where)
    order = (_REVERSE_ORDER if reverse else _ORDER)[sort]
    select = f"SELECT {SUMMARY_COLUMNS if summary else RUN_COLUMNS}{_WHY_COLUMNS}\n  FROM "
    if not after or sort == "started":
        if after:
            clauses.append((_BEFORE_STARTED if reverse else _AFTER_STARTED).format(n, n + 1))
            n += 2
        return f"{select}workflow_runs r{_WHY_JOINS}\n WHERE {' AND '.join(clauses)}\n ORDER BY {order} LIMIT ${n}"
    split = _BEFORE_SPLIT if reverse else _AFTER_SPLIT
    same, beyond = (fragment.format(n, n + 1, n + 2) for fragment in split[sort])
    limit = f"${n + 3}"
    base = " AND ".join(clauses)
    scans = " UNION ALL ".join(
        f"(SELECT r.* FROM workflow_runs r WHERE {base} AND {part} ORDER BY {order} LIMIT {limit})"
        for part in (same, beyond)
    )
    keyset = f"(SELECT * FROM ({scans}) r ORDER BY {order} LIMIT {limit}) r"
    return f"{select}{keyset}{_WHY_JOINS}\n ORDER BY {order} LIMIT {limit}"


def count_sql(where: RunFilter) -> str:
    """Counts matching runs, up to a cap (the last parameter), so a count never scans more than the cap."""
    clauses, n = _where(where)
    return f"SELECT count(*) FROM (SELECT 1 FROM workflow_runs r WHERE {' AND '.join(clauses)} LIMIT ${n}) AS capped"


class Keyed(Protocol):
    """What a keyset is made of (a ``RunRow`` or the service's summary of one)."""

    @property
    def run_id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def started_at(self) -> datetime: ...
    @property
    def completed_at(self) -> datetime | None: ...


def keyset_of(row: Keyed, sort: RunSort) -> Keyset:
    """The keyset of ``row`` under ``sort``: pass the last row's as ``after`` to get the next page."""
    if sort == "status":
        return row.status, row.started_at, row.run_id
    if sort == "duration":
        duration = OPEN_DURATION if row.completed_at is None else row.completed_at - row.started_at
        return duration, row.started_at, row.run_id
    return row.started_at, row.run_id


def query_args(tenant: str, where: RunFilter) -> list[Any]:
    """The tenant and filter values, in the order ``page_sql`` and ``count_sql`` bind them."""
    args: list[Any] = [tenant]
    for _, values in _filter_values(where):
        args.extend(values)
    return args


async def summary_page(
    conn: Conn,
    *,
    tenant: str,
    where: RunFilter,
    sort: RunSort = "started",
    after: Keyset | None = None,
    limit: int = 100,
    reverse: bool = False,
) -> list[SummaryRow]:
    """Like ``page``, with only the list's columns (what the runs list shows, without the run's JSON).

    ``reverse``: the ``limit`` rows before ``after`` (without it, the last ``limit`` rows of the list), still
    returned in list order.
    """
    rows = await _page_records(
        conn, tenant=tenant, where=where, sort=sort, after=after, limit=limit, summary=True, reverse=reverse
    )
    if reverse:
        rows.reverse()
    return [SummaryRow(**r) for r in rows]


async def page(
    conn: Conn,
    *,
    tenant: str,
    where: RunFilter,
    sort: RunSort = "started",
    after: Keyset | None = None,
    limit: int = 100,
) -> list[ListRow]:
    """One keyset page of runs matching ``where`` in ``sort`` order; ``after`` is the last row's ``keyset_of``."""
    rows = await _page_records(conn, tenant=tenant, where=where, sort=sort, after=after, limit=limit, summary=False)
    return [ListRow(**run_row(r)) for r in rows]


async def _page_records(
    conn: Conn,
    *,
    tenant: str,
    where: RunFilter,
    sort: RunSort,
    after: Keyset | None,
    limit: int,
    summary: bool,
    reverse: bool = False,
) -> list[Any]:
    if sort not in RUN_SORTS:
        raise ValueError(f"unknown sort {sort!r}")
    args = query_args(tenant, where)
    if after is not None:
        args.extend(after)
    sql = page_sql(where, sort=sort, after=after is not None, summary=summary, reverse=reverse)
    if where.workflow_prefix is None:
        return list(await conn.fetch(sql, *args, limit))
    return await _fetch_planned_per_value(conn, sql, [*args, limit])


# How many runs a workflow prefix matches swings from none to most of the tenant ("w" vs "wf-17"). A cached
# generic plan guesses 0.5 % and sorts every match from the prefix index — 30 ms at 1 M runs when the prefix
# matches half the tenant — where walking the newest-first index and filtering stops after a page. Planning
# with the actual prefix picks the right one each time.
FORCE_CUSTOM_PLAN = "SET LOCAL plan_cache_mode = force_custom_plan"


async def _fetch_planned_per_value(conn: Conn, sql: str, args: list[Any]) -> list[Any]:
    if isinstance(conn, asyncpg.Pool):
        async with conn.acquire() as acquired:
            return await _fetch_planned_per_value(acquired, sql, args)
    async with conn.transaction():
        await conn.execute(FORCE_CUSTOM_PLAN)
        return list(await conn.fetch(sql, *args))


async def count(conn: Conn, *, tenant: str, where: RunFilter, cap: int) -> int:
    """How many runs match ``where``, counting no further than ``cap``."""
    total: int = await conn.fetchval(count_sql(where), *query_args(tenant, where), cap)
    return total
