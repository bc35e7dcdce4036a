"""Checks a run's input before anything is created: JSON object, schema, size."""

import json
from typing import Any

from jsonschema import Draft202012Validator

from engine.errors import RunStudioError

MAX_PAYLOAD_BYTES = 2 * 1024 * 1024
"""Temporal refuses payloads over 2 MB; refuse them first, with a clear message and no run row."""


class PayloadRejected(RunStudioError):
    """The payload cannot start a run: every reason is listed."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def parse_payload_text(text: str) -> dict[str, Any]:
    """Parse JSON text given on the command line or in a file; it must be an object."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PayloadRejected(
            [f"payload is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"]
        ) from exc
    if not isinstance(value, dict):
        raise PayloadRejected([f"payload must be a JSON object, got {type(value).__name__}"])
    return value


def check_payload(definition: dict[str, Any], payload: Any) -> None:
    """Raise ``PayloadRejected`` unless ``payload`` is an object within the size limit and its schema."""
    if not isinstance(payload, dict):
        raise PayloadRejected([f"payload must be a JSON object, got {type(payload).__name__}"])
    size = len(json.dumps(payload, separators=(",", ":")).encode())
    if size > MAX_PAYLOAD_BYTES:
        raise PayloadRejected(
            [f"payload is {size} bytes; the limit is {MAX_PAYLOAD_BYTES} bytes (Temporal's payload size limit)"]
        )
    schema = definition.get("payloadSchema") or {}
    validator = Draft202012Validator(schema)
    problems = [
        f"{'$' + ''.join(f'[{p}]' if isinstance(p, int) else f'.{p}' for p in error.absolute_path)}: {error.message}"
        for error in sorted(validator.iter_errors(payload), key=lambda e: list(map(str, e.absolute_path)))
    ]
    if problems:
        raise PayloadRejected(problems)
