"""Printing helpers for commands: stable JSON, and plain tables without markup."""

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import typer

from engine.services.payloads import parse_payload_text


def print_json(value: Any) -> None:
    """Print ``value`` as indented JSON (datetimes as ISO strings)."""
    typer.echo(json.dumps(value, indent=2, default=_default, ensure_ascii=False))


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print aligned columns."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    typer.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in rows:
        typer.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


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
