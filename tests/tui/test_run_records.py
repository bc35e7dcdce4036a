"""The words of the run screen's Waits and Events panes: filters, a wait's real state, an event's outcome."""

from datetime import UTC, datetime, timedelta

from engine.services.runs import EventView, WaitView
from studio_tui.widgets.run_records import event_outcome, filters_text, wait_state

NOW = datetime(2025, 6, 2, 9, 30, tzinfo=UTC)


def _wait(status: str, *, timeout: timedelta | None, resolved: timedelta | None = None) -> WaitView:
    return WaitView(
        wait_type="event",
        status=status,
        event_name="ticket.approved",
        key="T-1",
        step_path="root.steps[0]",
        timeout_at=None if timeout is None else NOW + timeout,
        payload=None,
        created_at=NOW - timedelta(hours=1),
        resolved_at=None if resolved is None else NOW - resolved,
    )


def _event(relation: str, delivery: str | None) -> EventView:
    return EventView(
        event_id="e1",
        event_name="ticket.approved",
        correlation_key="T-1",
        outcome="routed",
        relation=relation,
        payload={},
        error=None,
        received_at=NOW,
        delivery=delivery,
    )


def test_only_an_open_wait_can_time_out() -> None:
    assert wait_state(_wait("WAITING", timeout=timedelta(minutes=4)), NOW) == "times out in 4m"
    assert wait_state(_wait("WAITING", timeout=None), NOW) == "no timeout"
    assert wait_state(_wait("WAITING", timeout=-timedelta(seconds=1)), NOW) == "timeout due"
    resolved = _wait("RESOLVED", timeout=timedelta(minutes=4), resolved=timedelta(seconds=8))
    assert wait_state(resolved, NOW) == "resolved 8s ago"
    canceled = _wait("CANCELED", timeout=timedelta(minutes=4), resolved=timedelta(minutes=3))
    assert wait_state(canceled, NOW) == "canceled 3m ago"
    assert wait_state(_wait("TIMED_OUT", timeout=-timedelta(hours=1), resolved=timedelta(hours=1)), NOW) == (
        "timed out 1h ago"
    )


def test_filters_read_as_conditions_with_json_values() -> None:
    filters = [
        {"path": "amount", "op": ">", "value": 100},
        {"path": "tier", "op": "in", "value": ["gold", "platinum"]},
        {"path": "by", "op": "exists"},
        {"path": "vip", "op": "=", "value": True},
    ]
    assert filters_text(filters) == 'amount > 100, tier in ["gold", "platinum"], by exists, vip = true'


def test_an_event_says_whether_it_matched_the_wait_it_reached() -> None:
    assert event_outcome(_event("started", None), "RUNNING") == "started this run"
    assert event_outcome(_event("signaled", "matched"), "SUCCEEDED") == "delivered — matched"
    assert event_outcome(_event("signaled", "did not match: amount > 100 was 50"), "WAITING") == (
        "delivered — did not match: amount > 100 was 50"
    )
    assert event_outcome(_event("signaled", None), "WAITING") == "delivered — not decided yet"
    assert event_outcome(_event("signaled", None), "SUCCEEDED") == "delivered — no match recorded"
