"""Options several commands share: ``--json``, and JSON values given as text or ``@FILE``.

A JSON option value that cannot be read (not JSON, NaN, nested too deep to parse, not an object where
one is required, an unreadable file) is a usage error (``UsageProblem``, exit 2). JSON that parses but breaks
the inbound rules (a NUL in a string, a key too long) is refused like any other inbound value
(``PayloadRejected``, exit 1): the command line was right, its content was not accepted.
"""

import json
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from runstudio.errors import UsageProblem

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]
"""``--json`` for a command that prints text unless asked."""

AlwaysJsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON (this command always does).")]
"""``--json`` for a command whose output is JSON anyway: accepted so scripts can pass it everywhere."""


def read_option_text(value: str, option: str) -> str:
    """The text of an option given inline, or read from ``@FILE`` (``UsageProblem`` if it cannot be read)."""
    if not value.startswith("@"):
        return value
    path = Path(value[1:])
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageProblem(f"cannot read the {option} file {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise UsageProblem(f"cannot read the {option} file {path}: it is not UTF-8 ({exc.reason})") from None


def parse_json_option(text: str, option: str) -> Any:
    """Any JSON value of ``option`` from its text: ``UsageProblem`` when unreadable, else the inbound rules."""
    from engine.services.payloads import PayloadRejected, parse_json_text  # jsonschema: only when a value is read

    try:
        return parse_json_text(text, what=option)
    except PayloadRejected as exc:
        if _is_json(text):
            raise  # well-formed JSON the inbound rules refuse: a refusal, not a usage error
        raise UsageProblem(str(exc)) from None


def read_json_option(value: str, option: str) -> Any:
    """Any JSON value, given as text or ``@FILE``."""
    return parse_json_option(read_option_text(value, option), option)


def read_object_option(value: str | None, option: str) -> dict[str, Any]:
    """A JSON object given as text or ``@FILE``; absent means ``{}``."""
    if value is None:
        return {}
    parsed = read_json_option(value, option)
    if not isinstance(parsed, dict):
        raise UsageProblem(f"{option} must be a JSON object, got {json_type(parsed)}")
    return parsed


def json_type(value: object) -> str:
    """How a person names the JSON type of ``value``: ``an array``, ``a string``, ``null`` …"""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    return "a number" if isinstance(value, int | float) else "null"


def _is_json(text: str) -> bool:
    # Only on the error path: tells a syntax problem (usage) from a rule the parsed value broke (refusal).
    try:
        json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        return False
    return True


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(name)
