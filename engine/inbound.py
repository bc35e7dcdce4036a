"""The one boundary every inbound value crosses before anything is written.

Payloads, event payloads, task responses, definitions, correlation rules and CLI arguments come from
people and other systems. Postgres, Temporal's converter and the indexes each refuse some values deep
inside a write (NUL in text, lone surrogates, NaN, deep nesting, long index keys); refused there, they
surface as raw errors or as runs that retry forever. These checks refuse them first, with a
:class:`InboundRejected` naming the JSON path and the rule, so nothing is written.

The rules (documented limits, also exported as constants):

JSON values (:func:`check_json`)
    Only JSON types: objects with string keys, arrays, strings, integers, finite floats, booleans and
    null. No string or key holds NUL (``\\u0000``, which Postgres text and jsonb cannot store) or a
    lone surrogate (not Unicode, so not encodable as UTF-8). Floats are finite (no NaN/±Infinity).
    Integers are within ±(2^53 − 1), the range every JSON reader holds exactly. Nesting is at most
    :data:`MAX_DEPTH` containers deep. The walk is iterative, so no input raises ``RecursionError``.

Names (:func:`check_name`): workflow ids, step ids, event names, task types, action names, tenants
    A non-empty string of at most ``max_length`` (default :data:`MAX_NAME_LENGTH`) characters from
    ASCII letters, digits and ``. _ - : / @``, starting with a letter or digit. So no whitespace,
    control, bidi or format character can hide in one, and any name fits in an index row.

Free text (:func:`check_text`): event ids, correlation keys, titles, actor names, notes
    A string of at most ``max_length`` characters, without NUL, other C0/C1 controls or DEL (``\\n``
    and ``\\t`` are allowed where ``multiline=True``), lone surrogates or bidi embedding, override and
    isolate characters (U+202A–U+202E, U+2066–U+2069), which make text display as something else.

Lookups (:func:`check_lookup`): ids, names and filters that are only compared with stored rows
    Text without NUL or lone surrogates, at most :data:`MAX_LOOKUP_LENGTH` characters: rows stored
    before these rules may hold any other character and must stay findable.

Versions (:func:`check_version`): an integer (not a boolean) in 1..2^31 − 1, the int32 Postgres column.

Where they apply: ``launch_run`` (workflow id, version, payload), ``replay_run`` (payload, actor),
``publish_definition`` (the document; ids, names and versions through :mod:`engine.dsl.models`),
``submit_event`` and the inbox (name, payload, event id, correlation key, and a key a rule derives),
``set_correlation_rule``, run lookups and filters (:mod:`engine.services.runs`), cancel, export,
``complete_task`` (the response) and ``parse_payload_text`` (CLI JSON, where NaN/Infinity are refused).
"""

import json
import math
import re
from typing import Final, NoReturn

from engine.errors import RunStudioError

MAX_DEPTH: Final = 64
"""Documented nesting limit of any inbound JSON value: at most this many objects/arrays deep."""

MAX_SAFE_INTEGER: Final = 2**53 - 1
"""Largest integer magnitude accepted in JSON: every JSON reader (JavaScript included) holds it exactly."""

MAX_VERSION: Final = 2**31 - 1
"""Largest version: versions are int32 columns."""

MAX_NAME_LENGTH: Final = 200
"""Default length limit of names; a name of this length always fits in a btree index row."""

MAX_EVENT_ID_LENGTH: Final = 200
"""Length limit of event ids (the unique key of the event table)."""

MAX_CORRELATION_KEY_LENGTH: Final = 500
"""Length limit of correlation keys (part of the candidate-wait index, with the tenant and event name)."""

MAX_ACTOR_LENGTH: Final = 200
"""Length limit of an actor's name and of where it acted from."""

MAX_LOOKUP_LENGTH: Final = 1_000
"""Length limit of a value looked up or filtered by (longer text matches nothing stored)."""

MAX_EXPRESSION_LENGTH: Final = 10_000
"""Length limit of a correlation rule expression."""

NAME_CHARSET: Final = "ASCII letters, digits and . _ - : / @, starting with a letter or digit"

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@-]*")
_BIDI: Final = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SHOWN_CHARS = 60
_MAX_PATH_CHARS = 400


class InboundRejected(RunStudioError, ValueError):
    """An inbound value broke a rule; ``str(exc)`` is ``"{what} refused at {path}: {rule}"``.

    ``code`` is a short stable name of the rule (``nul``, ``surrogate``, ``non_finite``, ``int_range``,
    ``depth``, ``type``, ``key_type``, ``empty``, ``length``, ``control``, ``bidi``, ``charset``,
    ``range``, ``unknown``), for counting refusals. It is also a ``ValueError`` (a bad value), so
    callers that already treat those as refusals keep doing so.
    """

    def __init__(self, what: str, path: str, rule: str, *, code: str = "rule") -> None:
        super().__init__(f"{what} refused at {path}: {rule}")
        self.what = what
        self.path = path
        self.rule = rule
        self.code = code


def check_json(value: object, *, what: str) -> None:
    """Raise :class:`InboundRejected` unless ``value`` is a JSON value within the rules above."""
    # Each entry: (value, depth of the containers around it, its path parts).
    stack: list[tuple[object, int, tuple[str | int, ...]]] = [(value, 0, ())]
    while stack:
        current, depth, parts = stack.pop()
        if isinstance(current, dict):
            if depth >= MAX_DEPTH:
                _refuse(what, parts, "depth", f"nested deeper than {MAX_DEPTH} levels (the documented limit)")
            for key, item in current.items():
                if not isinstance(key, str):
                    _refuse(what, parts, "key_type", f"object key {_show(key)} is not a string")
                _check_string(what, key, "object key", parts=(*parts, key))
                stack.append((item, depth + 1, (*parts, key)))
        elif isinstance(current, list):
            if depth >= MAX_DEPTH:
                _refuse(what, parts, "depth", f"nested deeper than {MAX_DEPTH} levels (the documented limit)")
            stack.extend((item, depth + 1, (*parts, index)) for index, item in enumerate(current))
        elif isinstance(current, str):
            _check_string(what, current, "string", parts=parts)
        elif isinstance(current, bool) or current is None:
            continue
        elif isinstance(current, int):
            if abs(current) > MAX_SAFE_INTEGER:
                _refuse(
                    what,
                    parts,
                    "int_range",
                    f"integer {_show_int(current)} is outside ±(2^53 - 1), the JSON-safe range",
                )
        elif isinstance(current, float):
            if not math.isfinite(current):
                shown = "NaN" if math.isnan(current) else ("Infinity" if current > 0 else "-Infinity")
                _refuse(what, parts, "non_finite", f"{shown} is not a JSON number (only finite numbers are)")
        else:
            _refuse(what, parts, "type", f"a {type(current).__name__} is not a JSON value")


def check_name(value: object, *, kind: str, max_length: int = MAX_NAME_LENGTH, path: str = "$") -> str:
    """Return ``value`` if it is a name of ``kind`` (charset and length above), else raise :class:`InboundRejected`."""
    text = _require_str(value, kind, path)
    if not text:
        raise InboundRejected(kind, path, "must not be empty", code="empty")
    _check_characters(kind, path, text, multiline=False)
    _check_length(kind, path, text, max_length)
    if not _NAME.fullmatch(text):
        bad = next((i for i, char in enumerate(text) if not _NAME.fullmatch(("a" if i else "") + char)), 0)
        raise InboundRejected(
            kind,
            path,
            f"{_show(text)} has {_show(text[bad])} at position {bad}; use {NAME_CHARSET}",
            code="charset",
        )
    return text


def check_text(value: object, *, what: str, max_length: int, multiline: bool = False, path: str = "$") -> str:
    """Return ``value`` if it is free text within the rules above, else raise :class:`InboundRejected`."""
    text = _require_str(value, what, path)
    _check_characters(what, path, text, multiline=multiline)
    _check_length(what, path, text, max_length)
    return text


def check_lookup(value: object, *, what: str, max_length: int = MAX_LOOKUP_LENGTH, path: str = "$") -> str:
    """Return ``value`` if it is text a query may compare with stored values, else raise :class:`InboundRejected`.

    Lookups and filters (a workflow id to filter by, an event id or event name to read) are only refused
    what Postgres cannot take (NUL, lone surrogates) or an absurd length: rows stored before the name
    rules existed may hold other characters and must stay findable.
    """
    text = _require_str(value, what, path)
    _check_string(what, text, "text", path=path)
    _check_length(what, path, text, max_length)
    return text


def check_version(value: object, *, what: str = "version", path: str = "$") -> int:
    """Return ``value`` if it is an integer (not a boolean) in 1..2^31 - 1, else raise :class:`InboundRejected`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InboundRejected(what, path, f"must be a whole number, got {_type_name(value)}", code="type")
    if not 1 <= value <= MAX_VERSION:
        raise InboundRejected(
            what, path, f"{_show_int(value)} is outside 1..{MAX_VERSION} (versions are int32)", code="range"
        )
    return value


def check_actor(user: object, source: object) -> None:
    """Refuse an actor (who did it, from where) that is not short single-line text: it is audited and shown."""
    check_text(user, what="actor", max_length=MAX_ACTOR_LENGTH)
    if source is not None:
        check_text(source, what="actor source", max_length=MAX_ACTOR_LENGTH)


def format_path(parts: tuple[str | int, ...]) -> str:
    """``("a", "b", 3)`` → ``$.a.b[3]``; keys that are not identifiers are quoted and escaped."""
    path = "$"
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        elif _IDENTIFIER.fullmatch(part):
            path += f".{part}"
        else:
            path += f"[{_show_key(part)}]"
    if len(path) > _MAX_PATH_CHARS:
        # A hostile value can make a path of many long keys; the tail says where, the head where from.
        path = path[: _MAX_PATH_CHARS // 2] + "..." + path[-_MAX_PATH_CHARS // 2 :]
    return path


# -- helpers --------------------------------------------------------------------------------------


def _require_str(value: object, what: str, path: str) -> str:
    if not isinstance(value, str):
        raise InboundRejected(what, path, f"must be a string, got {_type_name(value)}", code="type")
    return value


def _check_length(what: str, path: str, text: str, max_length: int) -> None:
    if len(text) > max_length:
        raise InboundRejected(what, path, f"is {len(text)} characters long; the limit is {max_length}", code="length")


def _check_characters(what: str, path: str, text: str, *, multiline: bool) -> None:
    """No NUL, lone surrogate, control character or bidi control (``\\n``/``\\t`` only if ``multiline``)."""
    _check_string(what, text, "text", path=path)
    for index, char in enumerate(text):
        code = ord(char)
        if code < 0x20 or 0x7F <= code <= 0x9F:
            if multiline and char in "\n\t":
                continue
            raise InboundRejected(
                what, path, f"contains the control character U+{code:04X} at position {index}", code="control"
            )
        if char in _BIDI:
            raise InboundRejected(
                what,
                path,
                f"contains the bidi control U+{code:04X} at position {index}, which would display the text reordered",
                code="bidi",
            )


def _check_string(
    what: str, text: str, noun: str, *, parts: tuple[str | int, ...] = (), path: str | None = None
) -> None:
    """NUL and lone surrogates: the two things no Postgres text or UTF-8 encoder can hold."""
    if "\x00" not in text and text.isascii():
        return  # the common case, decided without building a path
    where = path if path is not None else format_path(parts)
    if "\x00" in text:
        raise InboundRejected(what, where, f"the {noun} contains NUL (\\u0000), which cannot be stored", code="nul")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = ord(text[exc.start])
        raise InboundRejected(
            what,
            where,
            f"the {noun} contains a lone surrogate (\\u{bad:04x}) at position {exc.start}, which is not valid Unicode",
            code="surrogate",
        ) from None


def _refuse(what: str, parts: tuple[str | int, ...], code: str, rule: str) -> NoReturn:
    raise InboundRejected(what, format_path(parts), rule, code=code)


def _show(value: object) -> str:
    """A short, ASCII-only rendering of a hostile value, safe to print anywhere."""
    shown = ascii(value)
    if len(shown) > _SHOWN_CHARS:
        shown = shown[: _SHOWN_CHARS - 3] + "..."
    return shown


def _show_key(key: str) -> str:
    """A key as a JSON string (ASCII-only, escaped), shortened."""
    shown = json.dumps(key, ensure_ascii=True)
    if len(shown) > _SHOWN_CHARS:
        shown = shown[: _SHOWN_CHARS - 4] + '..."'
    return shown


def _show_int(value: int) -> str:
    # str() of a huge int is slow and raises past 4300 digits; its size is what matters.
    if value.bit_length() > 64:
        return f"{'-' if value < 0 else ''}(a {value.bit_length()}-bit integer)"
    return str(value)


def _type_name(value: object) -> str:
    return "null" if value is None else f"a {type(value).__name__}"
