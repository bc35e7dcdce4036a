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


def _compare(actual: Any, op: str, expected: Any) -> bool:
    if op == "exists":
        return actual is not _MISSING
    if actual is _MISSING:
        return op == "!="
    if op == "=":
        return bool(actual == expected)
    if op == "!=":
        return bool(actual != expected)
    if op == "in":
        return isinstance(expected, list) and actual in expected
    try:
        return bool(actual > expected) if op == ">" else bool(actual < expected)
    except TypeError:
        return False


def event_matches(wait: WaitEvent, *, event_name: str, correlation_key: str | None, payload: Any) -> bool:
    """True when name and key are the wait's and every filter holds on the payload."""
    if event_name != wait.event_name:
        return False
    if wait.correlation_key is not None and correlation_key != wait.correlation_key:
        return False
    return all(_compare(_lookup(payload, f["path"]), f["op"], f.get("value")) for f in wait.filters)
