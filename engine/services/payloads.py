"""Checks a run's input before anything is created: JSON object, the inbound rules, schema, size."""

import json
from typing import Any, NoReturn

from jsonschema import Draft202012Validator

from engine.errors import RunStudioError
from engine.inbound import MAX_DEPTH, InboundRejected, check_json
from engine.schema_messages import json_message

MAX_PAYLOAD_BYTES = 2 * 1024 * 1024
"""Temporal refuses payloads over 2 MB; refuse them first, with a clear message and no run row."""


class PayloadRejected(RunStudioError):
    """The payload cannot start a run: every reason is listed."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def parse_json_text(text: str, *, what: str) -> Any:
    """Parse JSON text from a person or a file into a value within the inbound rules (``PayloadRejected``).

    Python's ``json`` accepts ``NaN`` and ``Infinity``, which are not JSON: they are refused here, as
    are integers too long to parse and nesting too deep to parse, with a message instead of an error.
    """
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise PayloadRejected([f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"]) from exc
    except RecursionError:
        raise PayloadRejected([f"{what} is nested too deeply to read; the limit is {MAX_DEPTH} levels"]) from None
    except ValueError as exc:  # NaN/Infinity (above), or an integer of more than 4300 digits
        raise PayloadRejected([f"{what} is not usable JSON: {exc}"]) from None
    try:
        check_json(value, what=what)
    except InboundRejected as exc:
        raise PayloadRejected([str(exc)]) from None
    return value


def parse_payload_text(text: str, *, what: str = "payload") -> dict[str, Any]:
    """Parse JSON text given on the command line or in a file: a JSON object within the inbound rules."""
    value = parse_json_text(text, what=what)
    if not isinstance(value, dict):
        raise PayloadRejected([f"{what} must be a JSON object, got {type(value).__name__}"])
    return value


def check_payload(definition: dict[str, Any], payload: Any) -> None:
    """Raise ``PayloadRejected`` unless ``payload`` is an object within the size limit and its schema."""
    if not isinstance(payload, dict):
        raise PayloadRejected([f"payload must be a JSON object, got {type(payload).__name__}"])
    try:
        check_json(payload, what="payload")
    except InboundRejected as exc:
        raise PayloadRejected([str(exc)]) from None
    size = len(json.dumps(payload, separators=(",", ":")).encode())
    if size > MAX_PAYLOAD_BYTES:
        raise PayloadRejected(
            [f"payload is {size} bytes; the limit is {MAX_PAYLOAD_BYTES} bytes (Temporal's payload size limit)"]
        )
    schema = definition.get("payloadSchema") or {}
    validator = Draft202012Validator(schema)
    problems = [
        f"{'$' + ''.join(f'[{p}]' if isinstance(p, int) else f'.{p}' for p in error.absolute_path)}: "
        f"{json_message(error)}"  # values quoted as JSON, not Python (issue 13)
        for error in sorted(validator.iter_errors(payload), key=lambda e: list(map(str, e.absolute_path)))
    ]
    if problems:
        raise PayloadRejected(problems)


def _refuse_constant(name: str) -> NoReturn:
    # json.loads calls this for NaN, Infinity and -Infinity, which JSON does not have.
    raise ValueError(f"{name} is not a JSON number (only finite numbers are)")
