"""The one function that hides secrets in payloads before anything is shown, exported or sent.

A value is redacted when its path is listed in the definition's ``redact`` (dot paths into the payload,
``*`` matching every key or list item, an optional leading ``payload.``) or when its key is named like a
secret (password, secret, token, api key, authorization, credential, private key, …).
"""

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
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


_MIN_SECRET_LENGTH = 4


@dataclass(frozen=True)
class Redactor:
    """Redaction for everything derived from one run's input.

    Secrets copied out of the input (into vars, action inputs, outputs, errors) are not at a redacted
    path any more, so the redactor also remembers the secret strings themselves and masks every
    occurrence of them anywhere it is applied.
    """

    paths: tuple[str, ...]
    secrets: frozenset[str]

    @classmethod
    def for_input(cls, payload: Any, paths: Iterable[str]) -> "Redactor":
        """Build the redactor of a run from its (unredacted) input and its definition's ``redact`` paths."""
        path_list = tuple(paths)
        secrets = set()
        for location in redacted_paths(payload, path_list):
            value = _at(payload, location)
            for text in _strings(value):
                if len(text) >= _MIN_SECRET_LENGTH:
                    secrets.update(_written_forms(text))
        return cls(paths=path_list, secrets=frozenset(secrets))

    @classmethod
    def keys_only(cls) -> "Redactor":
        """The redactor of a value tied to no run input: sensitive key names only."""
        return cls(paths=(), secrets=frozenset())

    def input(self, payload: Any) -> Any:
        """The input as it may be shown: redacted paths and sensitive keys replaced."""
        return self.value(redact(payload, self.paths))

    def value(self, value: Any) -> Any:
        """Any other value of the run: sensitive keys replaced, remembered secrets masked wherever they appear."""
        return _mask(redact(value), sorted(self.secrets, key=len, reverse=True))

    def mask(self, value: Any) -> Any:
        """Remembered secrets masked wherever they appear, keys left alone (for schemas, whose keys are names)."""
        return _mask(value, sorted(self.secrets, key=len, reverse=True))


def _written_forms(secret: str) -> set[str]:
    """The secret and the forms it takes once embedded in JSON text (an error message quoting a payload)."""
    forms = {secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
    return {form for form in forms if len(form) >= _MIN_SECRET_LENGTH}


def _at(value: Any, location: tuple[str | int, ...]) -> Any:
    for part in location:
        value = value[part]
    return value


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def _mask(value: Any, secrets: list[str]) -> Any:
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, PLACEHOLDER)
        return value
    if isinstance(value, dict):
        return {_mask(k, secrets): _mask(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(item, secrets) for item in value]
    return value


def restore_placeholders(edited: Any, original: Any, paths: Iterable[str]) -> tuple[Any, list[str]]:
    """Put the original secrets back where an edited payload still holds the placeholder.

    Returns the payload to send and the problems found: a placeholder left where the original had no
    secret cannot be restored, and sending the literal placeholder would be a silent mistake.
    """
    secret_locations = redacted_paths(original, paths)
    problems: list[str] = []

    def walk(value: Any, here: tuple[str | int, ...]) -> Any:
        if value == PLACEHOLDER:
            if here in secret_locations:
                return _at(original, here)
            problems.append(
                f"{_json_path(here)} holds the redaction placeholder, but the original input has no secret "
                "there; replace it with a real value"
            )
            return value
        if isinstance(value, dict):
            return {k: walk(v, (*here, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, (*here, i)) for i, v in enumerate(value)]
        return value

    return walk(edited, ()), problems


def _json_path(location: tuple[str | int, ...]) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in location)
