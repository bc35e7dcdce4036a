"""Short, one-line renderings of diff values and step sides, shared by the CLI table and the studio screen."""

import json
from typing import Any, Final

from engine.diff.steps import StepSide

VALUE_WIDTH: Final = 40
"""Characters of a value shown in a table cell; the ``--json`` output has the whole value."""

ABSENT: Final = "—"


def short_value(value: Any, *, width: int = VALUE_WIDTH) -> str:
    """``value`` as compact JSON on one line, cut to ``width`` characters with an ellipsis."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


def step_side(side: StepSide | None) -> str:
    """``SUCCEEDED #2 17 ms``: status, attempts when retried, summed duration (``…`` while running)."""
    if side is None:
        return ABSENT
    attempts = f" #{side.attempts}" if side.attempts > 1 else ""
    took = "…" if side.duration_ms is None else f"{side.duration_ms} ms"
    return f"{side.status}{attempts} {took}"


def error_text(category: str | None, message: str | None, *, width: int = 60) -> str:
    """``Category: first line of the message`` (cut to ``width``), or ``—`` without an error."""
    if category is None and message is None:
        return ABSENT
    first = (message or "").splitlines()[0] if message else ""
    text = f"{category or 'Error'}: {first}" if first else (category or "Error")
    return text if len(text) <= width else text[: width - 1] + "…"
