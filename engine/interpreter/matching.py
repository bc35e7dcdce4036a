"""Does an event satisfy an ``event.wait``? Pure, so the workflow can decide it during replay."""

from typing import Any

from engine.interpreter.effects import WaitEvent

_MISSING = object()


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


def event_matches(wait: WaitEvent, *, event_name: str, correlation_key: str | None, payload: Any) -> bool:
    """True when name and key are the wait's and every filter holds on the payload."""
    if event_name != wait.event_name:
        return False
    if wait.correlation_key is not None and correlation_key != wait.correlation_key:
        return False
    return all(_compare(_lookup(payload, f["path"]), f["op"], f.get("value")) for f in wait.filters)
