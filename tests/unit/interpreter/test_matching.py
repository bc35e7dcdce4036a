"""matching.event_matches: event name, correlation key and every filter operator."""

from typing import Any

import pytest

from engine.interpreter.effects import WaitEvent
from engine.interpreter.matching import event_matches

PAYLOAD = {
    "amount": 500,
    "status": "approved",
    "by": None,
    "customer": {"tier": "gold", "tags": ["vip", "eu"]},
    "items": [{"sku": "A-1"}, {"sku": "B-2"}],
}


def wait(*filters: dict[str, Any], key: str | None = "T-1", name: str = "ticket.approved") -> WaitEvent:
    return WaitEvent(
        seq=1, path="root.steps[0]", event_name=name, correlation_key=key, filters=list(filters), timeout_ms=None
    )


def matches(w: WaitEvent, payload: Any = None, *, name: str = "ticket.approved", key: str | None = "T-1") -> bool:
    return event_matches(w, event_name=name, correlation_key=key, payload=PAYLOAD if payload is None else payload)


def f(path: str, op: str, value: Any = None) -> dict[str, Any]:
    return {"path": path, "op": op, "value": value}


def test_name_and_key_must_match() -> None:
    assert matches(wait())
    assert not matches(wait(), name="ticket.closed")
    assert not matches(wait(), key="T-2")
    assert not matches(wait(), key=None)


def test_a_wait_without_a_key_accepts_any_key() -> None:
    assert matches(wait(key=None), key="anything")
    assert matches(wait(key=None), key=None)
    assert not matches(wait(key=None), name="other", key="x")


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (f("amount", "=", 500), True),
        (f("amount", "=", 500.0), True),
        (f("amount", "=", 501), False),
        (f("payload.amount", "=", 500), True),
        (f("customer.tier", "=", "gold"), True),
        (f("customer.tags", "=", ["vip", "eu"]), True),
        (f("items.1.sku", "=", "B-2"), True),
        (f("items.5.sku", "=", "B-2"), False),
        (f("by", "=", None), True),
        (f("missing", "=", None), False),
        (f("status", "!=", "rejected"), True),
        (f("status", "!=", "approved"), False),
        (f("missing", "!=", "x"), True),
        (f("customer.missing.deep", "!=", 1), True),
        (f("amount", ">", 100), True),
        (f("amount", ">", 500), False),
        (f("amount", "<", 1000), True),
        (f("amount", "<", 500), False),
        (f("status", ">", "a"), True),
        (f("amount", ">", "100"), False),
        (f("amount", ">", None), False),
        (f("missing", ">", 0), False),
        (f("missing", "<", 0), False),
        (f("status", "in", ["approved", "pending"]), True),
        (f("status", "in", ["rejected"]), False),
        (f("status", "in", "approved"), False),
        (f("missing", "in", [None]), False),
        (f("by", "in", [None]), True),
        (f("amount", "exists"), True),
        (f("by", "exists"), True),
        (f("customer.tags.0", "exists"), True),
        (f("customer.tags.2", "exists"), False),
        (f("missing", "exists"), False),
        (f("amount.deeper", "exists"), False),
    ],
)
def test_filter_operators(flt: dict[str, Any], expected: bool) -> None:
    assert matches(wait(flt)) is expected


def test_every_filter_must_hold() -> None:
    both = wait(f("amount", ">", 100), f("status", "=", "approved"))
    one_fails = wait(f("amount", ">", 100), f("status", "=", "rejected"))
    assert matches(both)
    assert not matches(one_fails)


@pytest.mark.parametrize("payload", [[1, 2], "text", 5])
def test_a_payload_that_is_not_an_object_has_no_paths(payload: Any) -> None:
    assert not matches(wait(f("amount", "exists")), payload)
    assert matches(wait(f("amount", "!=", 1)), payload)
    assert matches(wait(), payload)


@pytest.mark.parametrize(
    ("flt", "payload"),
    [
        (f("flag", "=", 1), {"flag": True}),
        (f("count", "=", False), {"count": 0}),
        (f("flag", "in", [1, 2]), {"flag": True}),
        (f("flag", ">", 0), {"flag": True}),
    ],
)
def test_booleans_are_not_numbers(flt: dict[str, Any], payload: dict[str, Any]) -> None:
    assert not matches(wait(flt), payload)
