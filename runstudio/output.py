"""Printing helpers for commands: valid JSON, one-row-per-record tables, and text made safe for a terminal.

Payloads, names and error messages are untrusted. A C0 control, DEL or C1 control in them could clear
the screen, set the title or write the clipboard of whoever runs the command; a bidi override (U+202E)
or another invisible format character could make one id read as another; a newline inside a table cell
would make one record look like two. So:

* text lines (``echo``) show controls as ``\\xNN`` and invisible characters as ``⟨U+XXXX⟩``, keeping
  newline and tab;
* table cells (``print_table``) do the same and show newline and tab as ``\\n`` and ``\\t`` too;
* JSON (``print_json``) escapes C0, DEL, C1, lone surrogates and the invisible characters as ``\\uXXXX``,
  so it always parses and encodes, and leaves every other character readable.
"""

import json
import math
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import typer
from rich.cells import cell_len

# Unicode format characters (Cf: bidi marks, embeddings, overrides and isolates, zero-width characters,
# BOM, tags) and the line/paragraph separators (Zl, Zp), as of Unicode 15. A unit test checks the list
# against the interpreter's own Unicode tables.
_INVISIBLE_RANGES = (
    "\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e\u200b-\u200f\u2028-\u202e"
    "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f"
)
_CONTROLS = "\x00-\x08\x0b-\x1f\x7f-\x9f"
_SURROGATES = "\ud800-\udfff"

_LINE_UNSAFE = re.compile(f"[{_CONTROLS}{_SURROGATES}{_INVISIBLE_RANGES}]")
_CELL_UNSAFE = re.compile(f"[\t\n{_CONTROLS}{_SURROGATES}{_INVISIBLE_RANGES}]")
# json.dumps(ensure_ascii=False) already escapes C0; what it leaves raw and a terminal or an encoder
# would choke on is DEL, C1, lone surrogates and the invisible characters.
_JSON_UNSAFE = re.compile(f"[\x7f-\x9f{_SURROGATES}{_INVISIBLE_RANGES}]")
_CELL_NAMED = {"\n": "\\n", "\t": "\\t"}


def _visible(char: str) -> str:
    code = ord(char)
    if code < 0xA0:
        return _CELL_NAMED.get(char) or f"\\x{code:02x}"
    return f"⟨U+{code:04X}⟩"


def terminal_safe(text: object) -> str:
    """``text`` with controls shown as ``\\xNN`` and invisible/bidi characters as ``⟨U+XXXX⟩``; newline and tab stay."""
    return _LINE_UNSAFE.sub(lambda m: _visible(m.group()), str(text))


def cell_safe(text: object) -> str:
    """``text`` for one table cell: like ``terminal_safe``, and newline and tab shown as ``\\n`` and ``\\t``."""
    return _CELL_UNSAFE.sub(lambda m: _visible(m.group()), str(text))


def echo(text: object = "", *, err: bool = False) -> None:
    """Print one line (to stderr with ``err``), made terminal-safe."""
    typer.echo(terminal_safe(text), err=err)


def json_text(value: Any, *, indent: int | None = 2) -> str:
    """``value`` as indented JSON that always parses: datetimes as ISO strings, NaN/±Infinity as strings,
    DEL, C1, lone surrogates and invisible characters as ``\\uXXXX`` escapes. ``indent=None`` gives one
    compact line (JSON-lines output)."""
    separators = (",", ":") if indent is None else None
    options: dict[str, Any] = {"default": _default, "ensure_ascii": False, "allow_nan": False}
    try:
        text = json.dumps(value, indent=indent, separators=separators, **options)
    except ValueError:
        text = json.dumps(_finite(value), indent=indent, separators=separators, **options)
    # Outside strings JSON holds only ASCII punctuation, digits and whitespace, so every match is in a string.
    return _JSON_UNSAFE.sub(lambda m: _json_escape(m.group()), text)


def print_json(value: Any) -> None:
    """Print ``value`` as ``json_text``."""
    typer.echo(json_text(value))


def _json_escape(char: str) -> str:
    code = ord(char)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _finite(value: Any) -> Any:
    # Standard JSON has no NaN or Infinity; a value that holds one is shown with it spelled as a string.
    if isinstance(value, float) and not math.isfinite(value):
        return str(value).replace("inf", "Infinity").replace("nan", "NaN")
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print aligned columns, one line per row, whatever the cells hold (see ``cell_safe``)."""
    header_cells = [cell_safe(h) for h in headers]
    cells = [[cell_safe(cell) for cell in row] for row in rows]
    widths = [max([cell_len(h), *(cell_len(r[i]) for r in cells)]) for i, h in enumerate(header_cells)]
    for row in [header_cells, *cells]:
        line = "  ".join(c + " " * (w - cell_len(c)) for c, w in zip(row, widths, strict=True))
        typer.echo(line.rstrip())
