"""Rows of the run screen's record panes (waits, invocations, events, audit, logs, child runs)."""

from collections.abc import Mapping
from datetime import datetime

from rich.text import Text

from engine.services.runs import RunDetail
from studio_tui.format import ago, role_style, short_id, status_text, timestamp
from studio_tui.sanitize import safe_text
from studio_tui.widgets.keyed_table import ColumnSpec, Row
from studio_tui.widgets.record_pane import Columns, Records


def _cell(value: object) -> Text:
    return safe_text(value, single_line=True)


def waits(detail: RunDetail, now: datetime, variables: Mapping[str, str]) -> Records:
    """Time, event and human waits: what the run waited for, and how it ended."""
    rows: list[Row] = []
    documents = {}
    for index, wait in enumerate(detail.waits):
        key = f"wait|{index}"
        timeout = ago(wait.timeout_at, now) if wait.timeout_at else "–"
        rows.append(
            (
                key,
                [
                    status_text(wait.status, variables),
                    _cell(wait.wait_type),
                    _cell(wait.event_name or "–"),
                    _cell(wait.key or "–"),
                    Text(timeout, no_wrap=True),
                    _cell(wait.step_path),
                ],
            )
        )
        documents[key] = wait.model_dump(mode="json")
    columns = Columns(
        (
            ColumnSpec("status", "Status", 11),
            ColumnSpec("type", "Type", 5),
            ColumnSpec("event", "Event", 14),
            ColumnSpec("key", "Key", 12),
            ColumnSpec("timeout", "Timeout", 8),
        ),
        ColumnSpec("path", "Step", 10),
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


def events(detail: RunDetail, now: datetime, variables: Mapping[str, str]) -> Records:
    """Events that started or signaled the run."""
    rows: list[Row] = []
    documents = {}
    for index, event in enumerate(detail.events):
        key = f"event|{index}"
        outcome = _cell(event.outcome)
        if event.error:
            outcome = _cell(f"{event.outcome}: {event.error}")
            outcome.stylize(role_style(variables, "error"))
        rows.append(
            (
                key,
                [
                    Text(ago(event.received_at, now), no_wrap=True),
                    _cell(event.event_name),
                    _cell(event.correlation_key or "–"),
                    _cell(event.relation),
                    outcome,
                ],
            )
        )
        documents[key] = event.model_dump(mode="json")
    columns = Columns(
        (
            ColumnSpec("when", "Received", 8),
            ColumnSpec("name", "Event", 16),
            ColumnSpec("key", "Key", 14),
            ColumnSpec("relation", "How", 8),
        ),
        ColumnSpec("outcome", "Outcome", 10),
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


def children(detail: RunDetail) -> Records:
    """Child runs started by ``control.callWorkflow`` steps; each row's key is the child's run id."""
    rows: list[Row] = [(child_id, [_cell(short_id(child_id)), _cell(child_id)]) for child_id in detail.child_run_ids]
    columns = Columns((ColumnSpec("short", "Run", 8),), ColumnSpec("run_id", "Full id (Enter opens)", 36))
    return Records(columns, rows, {}, "This run started no child runs.")
