"""Does an event satisfy an ``event.wait``? Pure, so the workflow can decide it during replay."""

import json
from typing import Any

from engine.interpreter.effects import WaitEvent

_MISSING = object()
_SHOWN_LIMIT = 60
"""Characters of a value shown in a non-match reason."""


def _lookup(payload: Any, path: str) -> Any:
    value = payload
    for part in path.removeprefix("payload.").split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def _same(a: Any, b: Any) -> bool:
    """JSON equality: ``true`` is not ``1`` (Python says it is)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


def _ordered(a: Any, b: Any) -> bool:
    """Only numbers with numbers and strings with strings can be ordered; booleans are neither."""
    if isinstance(a, bool) or isinstance(b, bool):
        return False
    numbers = isinstance(a, int | float) and isinstance(b, int | float)
    return numbers or (isinstance(a, str) and isinstance(b, str))


def _compare(actual: Any, op: str, expected: Any) -> bool:
    if op == "exists":
        return actual is not _MISSING
    if actual is _MISSING:
        return op == "!="
    if op == "=":
        return _same(actual, expected)
    if op == "!=":
        return not _same(actual, expected)
    if op == "in":
        return isinstance(expected, list) and any(_same(actual, item) for item in expected)
    if not _ordered(actual, expected):
        return False
    return bool(actual > expected) if op == ">" else bool(actual < expected)


def _shown(value: Any) -> str:
    """A value as JSON text, cut to a readable length (the reason is projected and shown to operators)."""
    if value is _MISSING:
        return "missing"
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= _SHOWN_LIMIT else text[: _SHOWN_LIMIT - 1] + "…"


def mismatch(wait: WaitEvent, *, event_name: str, correlation_key: str | None, payload: Any) -> str | None:
    """``None`` when the event satisfies the wait; otherwise the first condition that failed, in words.

    For a filter: ``amount > 100 was 50`` (the path as authored, the expected and the actual value as JSON).
    """
    if event_name != wait.event_name:
        return f"event name {_shown(event_name)} is not {_shown(wait.event_name)}"
    if wait.correlation_key is not None and correlation_key != wait.correlation_key:
        return f"correlation key {_shown(correlation_key)} is not {_shown(wait.correlation_key)}"
    for f in wait.filters:
        actual = _lookup(payload, f["path"])
        if not _compare(actual, f["op"], f.get("value")):
            if f["op"] == "exists":
                return f"{f['path']} exists was missing"
            return f"{f['path']} {f['op']} {_shown(f.get('value'))} was {_shown(actual)}"
    return None


def event_matches(wait: WaitEvent, *, event_name: str, correlation_key: str | None, payload: Any) -> bool:
    """True when name and key are the wait's and every filter holds on the payload."""
    return mismatch(wait, event_name=event_name, correlation_key=correlation_key, payload=payload) is None
