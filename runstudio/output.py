"""Printing helpers for commands: stable JSON, plain tables, and text made safe for a terminal.

Payloads, names and error messages are untrusted: a C0 (except newline and tab), DEL or C1 control in
them could clear the screen, set the title or write the clipboard of whoever runs the command, so every
line printed goes through ``terminal_safe``.
"""

import json
import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import typer

from engine.services.payloads import parse_payload_text

_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def terminal_safe(text: object) -> str:
    """``text`` with every terminal control except newline and tab shown as ``\\xNN``."""
    return _CONTROLS.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


def echo(text: object = "", *, err: bool = False) -> None:
    """Print one line (to stderr with ``err``), made terminal-safe."""
    typer.echo(terminal_safe(text), err=err)


def print_json(value: Any) -> None:
    """Print ``value`` as indented JSON (datetimes as ISO strings; controls escaped as JSON requires)."""
    # ensure_ascii=False would let C1 controls through unescaped; terminal_safe catches them too.
    echo(json.dumps(value, indent=2, default=_default, ensure_ascii=False))


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print aligned columns."""
    rows = [[terminal_safe(cell) for cell in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    echo("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in rows:
        echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def read_payload_option(value: str | None) -> dict[str, Any]:
    """``--payload`` as JSON text, or ``@path`` to read it from a file; absent means ``{}``."""
    if value is None:
        return {}
    if value.startswith("@"):
        path = Path(value[1:])
        try:
            value = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise typer.BadParameter(f"cannot read payload file {path}: {exc.strerror}") from exc
    return parse_payload_text(value)
