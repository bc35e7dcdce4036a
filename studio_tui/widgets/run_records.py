"""Rows of the run screen's record panes (waits, invocations, events, audit, logs, child runs, replays)."""

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from rich.text import Text

from engine.services.runs import EventView, RunDetail, RunLink, WaitView
from studio_tui.format import ago, duration, elapsed, role_style, short_id, status_text, timestamp
from studio_tui.sanitize import safe_text
from studio_tui.widgets.keyed_table import ColumnSpec, Row
from studio_tui.widgets.record_pane import Columns, Records


def _cell(value: object) -> Text:
    return safe_text(value, single_line=True)


_WAIT_FIRST = ("status", "non_match", "filters", "event_name", "key", "wait_type", "matched_event_id", "timeout_at")
"""What an on-call reads first in a wait's detail: what it waits for and why an event did not satisfy it."""


def _first(document: dict[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    """``document`` with ``keys`` moved to the front, so the detail view shows them without scrolling."""
    return {**{k: document[k] for k in keys if k in document}, **document}


def filters_text(filters: Sequence[Mapping[str, Any]]) -> str:
    """An event wait's filters in words, ``amount > 100, tier in ["gold"]`` (raw: sanitise before showing)."""
    parts = []
    for f in filters:
        if f.get("op") == "exists":
            parts.append(f"{f.get('path')} exists")
        else:
            value = json.dumps(f.get("value"), ensure_ascii=False, default=str)
            parts.append(f"{f.get('path')} {f.get('op')} {value}")
    return ", ".join(parts)


def wait_state(wait: WaitView, now: datetime) -> str:
    """Where a wait stands: only an open wait can time out; a closed one says how and when it ended."""
    if wait.status == "WAITING":
        if wait.timeout_at is None:
            return "no timeout"
        return "timeout due" if wait.timeout_at <= now else f"times out {ago(wait.timeout_at, now)}"
    ended = ago(wait.resolved_at, now) if wait.resolved_at else ""
    verb = {"RESOLVED": "resolved", "TIMED_OUT": "timed out", "CANCELED": "canceled"}.get(wait.status, wait.status)
    return f"{verb} {ended}".strip()


def _wait_what(wait: WaitView) -> str:
    """The last column: filters, and why the latest delivery did not match."""
    parts = []
    if wait.filters:
        parts.append(f"where {filters_text(wait.filters)}")
    if wait.non_match and wait.status == "WAITING":
        parts.append(f"last event did not match: {wait.non_match.get('reason')}")
    return " · ".join(parts) or "–"


def waits(detail: RunDetail, now: datetime, variables: Mapping[str, str]) -> Records:
    """Time, event and human waits: what the run waits for (filters included), and where each stands."""
    rows: list[Row] = []
    documents = {}
    for index, wait in enumerate(detail.waits):
        key = f"wait|{index}"
        what = _cell(_wait_what(wait))
        if wait.non_match and wait.status == "WAITING":
            what.stylize(role_style(variables, "warning"))
        rows.append(
            (
                key,
                [
                    status_text(wait.status, variables),
                    _cell(wait.wait_type),
                    _cell(wait.event_name or "–"),
                    _cell(wait.key or "–"),
                    Text(wait_state(wait, now), no_wrap=True, overflow="ellipsis"),
                    what,
                ],
            )
        )
        documents[key] = _first(wait.model_dump(mode="json"), _WAIT_FIRST)
    columns = Columns(
        (
            ColumnSpec("status", "Status", 11),
            ColumnSpec("type", "Type", 5),
            ColumnSpec("event", "Event", 15),
            ColumnSpec("key", "Key", 8),
            ColumnSpec("state", "State", 16),
        ),
        ColumnSpec("what", "Filters", 10),
    )
    return Records(columns, rows, documents, "This run has not waited for anything.")


def invocations(detail: RunDetail, variables: Mapping[str, str]) -> Records:
    """Action invocations from the ledger, with their idempotency keys."""
    rows: list[Row] = []
    documents = {}
    for index, call in enumerate(detail.invocations):
        key = f"call|{index}"
        rows.append(
            (
                key,
                [
                    status_text(call.status, variables),
                    _cell(f"{call.action}@{call.version}"),
                    Text(f"#{call.attempt}" if call.attempt > 1 else "", style="bold"),
                    _cell(call.step_path),
                    _cell(call.idempotency_key),
                ],
            )
        )
        documents[key] = call.model_dump(mode="json")
    columns = Columns(
        (
            ColumnSpec("status", "Status", 11),
            ColumnSpec("action", "Action", 16),
            ColumnSpec("attempt", "Try", 3),
            ColumnSpec("path", "Step", 18),
        ),
        ColumnSpec("idem", "Idempotency key", 10),
    )
    return Records(columns, rows, documents, "No action was invoked.")


def event_outcome(event: EventView, run_status: str) -> str:
    """What the event did to this run: started it, or was delivered and matched its wait (or why not)."""
    if event.relation == "started":
        return "started this run"
    if event.delivery is not None:
        return f"delivered — {event.delivery}"
    if run_status == "WAITING":
        return "delivered — not decided yet"
    # Only the latest non-match of a wait is kept, and runs projected before 0006 recorded none.
    return "delivered — no match recorded"


def events(detail: RunDetail, now: datetime, variables: Mapping[str, str]) -> Records:
    """Events that started or signaled the run, and whether each satisfied the wait it reached."""
    rows: list[Row] = []
    documents = {}
    for index, event in enumerate(detail.events):
        key = f"event|{index}"
        said = event_outcome(event, detail.status)
        outcome = _cell(said)
        if event.error:
            outcome = _cell(f"{said}: {event.error}")
            outcome.stylize(role_style(variables, "error"))
        elif event.delivery and event.delivery != "matched":
            outcome.stylize(role_style(variables, "warning"))
        rows.append(
            (
                key,
                [
                    Text(ago(event.received_at, now), no_wrap=True),
                    _cell(event.event_name),
                    _cell(event.correlation_key or "–"),
                    outcome,
                ],
            )
        )
        documents[key] = _first(event.model_dump(mode="json"), ("delivery", "event_id", "event_name"))
    columns = Columns(
        (
            ColumnSpec("when", "Received", 8),
            ColumnSpec("name", "Event", 16),
            ColumnSpec("key", "Key", 12),
        ),
        ColumnSpec("outcome", "Outcome", 20),
    )
    return Records(columns, rows, documents, "No event started or signaled this run.")


def audit(detail: RunDetail, now: datetime) -> Records:
    """Who did what to the run (cancel, replay, export), from where."""
    rows: list[Row] = []
    documents = {}
    for index, entry in enumerate(detail.audit):
        key = f"audit|{index}"
        rows.append(
            (
                key,
                [
                    Text(ago(entry.created_at, now), no_wrap=True),
                    _cell(entry.action),
                    _cell(entry.actor),
                    _cell(entry.source or "–"),
                    _cell(entry.details),
                ],
            )
        )
        documents[key] = entry.model_dump(mode="json")
    columns = Columns(
        (
            ColumnSpec("when", "When", 8),
            ColumnSpec("action", "Action", 8),
            ColumnSpec("actor", "Who", 12),
            ColumnSpec("source", "From", 16),
        ),
        ColumnSpec("details", "Details", 10),
    )
    return Records(columns, rows, documents, "Nobody has acted on this run.")


def logs(detail: RunDetail, variables: Mapping[str, str]) -> Records:
    """Log lines written by the run's ``core.log`` steps."""
    rows: list[Row] = []
    documents = {}
    for index, line in enumerate(detail.logs):
        key = f"log|{index}"
        level = _cell(line.level)
        if line.level.lower() in ("error", "warning", "warn"):
            level.stylize(role_style(variables, "error" if line.level.lower() == "error" else "warning"))
        rows.append((key, [Text(timestamp(line.created_at)[11:], no_wrap=True), level, _cell(line.message)]))
        documents[key] = line.model_dump(mode="json")
    columns = Columns(
        (ColumnSpec("when", "Time", 9), ColumnSpec("level", "Level", 7)),
        ColumnSpec("message", "Message", 20),
    )
    return Records(columns, rows, documents, "This run has written no log lines.")


def _links(links: Sequence[RunLink], now: datetime, variables: Mapping[str, str]) -> list[Row]:
    return [
        (
            link.run_id,
            [
                status_text(link.status, variables),
                _cell(short_id(link.run_id)),
                Text(duration(elapsed(link.started_at, link.completed_at, now)), no_wrap=True),
                Text(ago(link.started_at, now), no_wrap=True),
                _cell(f"{link.workflow_id}@{link.workflow_version}"),
            ],
        )
        for link in links
    ]


_LINK_COLUMNS = Columns(
    (
        ColumnSpec("status", "Status", 11),
        ColumnSpec("short", "Run", 8),
        ColumnSpec("took", "Took", 6),
        ColumnSpec("started", "Started", 8),
    ),
    ColumnSpec("workflow", "Workflow (Enter opens)", 22),
)


def children(detail: RunDetail, now: datetime, variables: Mapping[str, str]) -> Records:
    """Child runs started by ``control.callWorkflow`` steps; each row's key is the child's run id."""
    return Records(_LINK_COLUMNS, _links(detail.children, now, variables), {}, "This run started no child runs.")


def replays(detail: RunDetail, now: datetime, variables: Mapping[str, str]) -> Records:
    """Runs replayed from this one, newest first; each row's key is the replay's run id."""
    return Records(_LINK_COLUMNS, _links(detail.replays, now, variables), {}, "Nobody has replayed this run.")
