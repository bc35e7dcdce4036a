"""jsonschema's error messages, with the values they quote written as JSON rather than as Python reprs.

People type JSON (``null``, ``true``, ``"x"``); a message saying "None is not of type 'boolean'" makes them
translate. Used wherever a schema's verdict is shown: task responses and run payloads.
"""

import json
import re
from typing import Any

from jsonschema import ValidationError


def json_message(error: ValidationError) -> str:
    """``error.message`` with the values it quotes written as JSON (``null``, ``true``, ``"x"``), not Python.

    jsonschema builds its messages with ``repr``, so a form error would read "None is not of type 'boolean'"
    to someone who typed ``null``. The quoted values are the instance, the schema keyword's value and their
    members (a missing required name, an unexpected property, an enum choice); each is swapped in one pass
    so a value already rewritten is never rewritten again.
    """
    candidates: list[Any] = [error.instance, error.validator_value]
    for value in (error.instance, error.validator_value):
        if isinstance(value, (dict, list)):
            candidates.extend(value)  # a dict's keys: a missing required name or an unexpected property
    as_json: dict[str, str] = {}
    for value in candidates:
        try:
            python, written = repr(value), json.dumps(value, ensure_ascii=False)
        except (TypeError, ValueError):
            continue
        if python != written:
            as_json.setdefault(python, written)
    if not as_json:
        return error.message
    pattern = re.compile("|".join(re.escape(r) for r in sorted(as_json, key=len, reverse=True)))
    return pattern.sub(lambda match: as_json[match.group(0)], error.message)
