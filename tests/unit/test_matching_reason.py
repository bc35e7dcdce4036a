"""``mismatch`` names the first condition an event failed; ``event_matches`` agrees with it."""

from typing import Any

import pytest

from engine.interpreter.effects import WaitEvent
from engine.interpreter.matching import event_matches, mismatch


def _wait(filters: list[dict[str, Any]], key: str | None = "K-1") -> WaitEvent:
    return WaitEvent(
        seq=1, path="root.steps[0]", event_name="ticket.approved", correlation_key=key, filters=filters, timeout_ms=None
    )


@pytest.mark.parametrize(
    ("filters", "payload", "reason"),
    [
        ([{"path": "amount", "op": ">", "value": 100}], {"amount": 50}, "amount > 100 was 50"),
        ([{"path": "payload.tier", "op": "=", "value": "gold"}], {"tier": "tin"}, 'payload.tier = "gold" was "tin"'),
        ([{"path": "amount", "op": ">", "value": 100}], {}, "amount > 100 was missing"),
        ([{"path": "by", "op": "exists"}], {"amount": 1}, "by exists was missing"),
        ([{"path": "ok", "op": "=", "value": True}], {"ok": 1}, "ok = true was 1"),
        ([{"path": "a", "op": "in", "value": [1, 2]}], {"a": 3}, "a in [1, 2] was 3"),
        (
            [{"path": "a", "op": "<", "value": 5}, {"path": "b", "op": "!=", "value": 1}],
            {"a": 1, "b": 1},
            "b != 1 was 1",
        ),
    ],
)
def test_the_first_failed_filter_is_named_with_both_values(
    filters: list[dict[str, Any]], payload: dict[str, Any], reason: str
) -> None:
    wait = _wait(filters)
    assert mismatch(wait, event_name="ticket.approved", correlation_key="K-1", payload=payload) == reason
    assert not event_matches(wait, event_name="ticket.approved", correlation_key="K-1", payload=payload)


def test_name_and_key_are_checked_before_filters() -> None:
    wait = _wait([{"path": "amount", "op": ">", "value": 100}])
    assert mismatch(wait, event_name="ticket.closed", correlation_key="K-1", payload={}) == (
        'event name "ticket.closed" is not "ticket.approved"'
    )
    assert mismatch(wait, event_name="ticket.approved", correlation_key="K-2", payload={}) == (
        'correlation key "K-2" is not "K-1"'
    )


def test_a_match_has_no_reason_and_long_values_are_cut() -> None:
    wait = _wait([{"path": "note", "op": "=", "value": "x"}], key=None)
    assert mismatch(wait, event_name="ticket.approved", correlation_key="any", payload={"note": "x"}) is None
    reason = mismatch(wait, event_name="ticket.approved", correlation_key=None, payload={"note": "y" * 500})
    assert reason is not None and reason.startswith('note = "x" was "yyy') and reason.endswith("…")
    assert len(reason) < 100
