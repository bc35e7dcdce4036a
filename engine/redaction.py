"""The one function that hides secrets in payloads before anything is shown, exported or sent.

A value is redacted when its path is listed in the definition's ``redact`` (dot paths into the payload,
``*`` matching every key or list item, an optional leading ``payload.``) or when its key is named like a
secret (password, secret, token, api key, authorization, credential, private key, …).
"""

import re
from collections.abc import Iterable
from typing import Any, Final

PLACEHOLDER: Final = "[REDACTED]"

_SENSITIVE = re.compile(
    r"pass(word|wd|phrase)?$|secret|token|apikey|authorization|credential|privatekey|cookie|session", re.IGNORECASE
)


def is_sensitive_key(key: str) -> bool:
    """Whether a key's name marks its value as a secret (case, ``_`` and ``-`` are ignored)."""
    return _SENSITIVE.search(key.replace("_", "").replace("-", "")) is not None


def parse_paths(paths: Iterable[str]) -> list[tuple[str, ...]]:
    """Split configured redact paths into segments, dropping a leading ``payload``."""
    parsed = []
    for path in paths:
        segments = tuple(s for s in re.split(r"\.|\[(\d+|\*)\]", path) if s)
        if segments and segments[0] == "payload":
            segments = segments[1:]
        if segments:
            parsed.append(segments)
    return parsed


def redact(value: Any, paths: Iterable[str] = ()) -> Any:
    """A copy of ``value`` with every configured path and every sensitive key replaced by ``PLACEHOLDER``."""
    return _redact(value, parse_paths(paths))


def _redact(value: Any, paths: list[tuple[str, ...]]) -> Any:
    if any(len(p) == 0 for p in paths):
        return PLACEHOLDER
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if is_sensitive_key(str(key)):
                out[key] = PLACEHOLDER
                continue
            out[key] = _redact(item, [p[1:] for p in paths if p[0] in (key, "*")])
        return out
    if isinstance(value, list):
        return [_redact(item, [p[1:] for p in paths if p[0] in (str(i), "*")]) for i, item in enumerate(value)]
    return value


def redacted_paths(value: Any, paths: Iterable[str] = ()) -> set[tuple[str | int, ...]]:
    """The concrete locations in ``value`` that ``redact`` would hide (used to restore them on replay)."""
    found: set[tuple[str | int, ...]] = set()
    _collect(value, parse_paths(paths), (), found)
    return found


def _collect(
    value: Any, paths: list[tuple[str, ...]], here: tuple[str | int, ...], found: set[tuple[str | int, ...]]
) -> None:
    if any(len(p) == 0 for p in paths):
        found.add(here)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if is_sensitive_key(str(key)):
                found.add((*here, key))
            else:
                _collect(item, [p[1:] for p in paths if p[0] in (key, "*")], (*here, key), found)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _collect(item, [p[1:] for p in paths if p[0] in (str(i), "*")], (*here, i), found)
