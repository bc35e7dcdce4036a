"""Export: one redacted JSON document with everything known about a run."""

import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from engine.config import load_settings
from engine.errors import RunStudioError
from engine.inbound import check_actor, check_lookup
from engine.services import audit
from engine.services.audit import Actor
from engine.services.context import ServiceContext
from engine.services.runs import get_run_detail
from engine.store import definitions

EXPORT_FORMAT = "runstudio.run-export/1"

MAX_PATH_LENGTH = 4096
"""Longest export path accepted (Linux's PATH_MAX)."""


class ExportFailed(RunStudioError):
    """The export document could not be written where asked."""


async def build_export(ctx: ServiceContext, run_id: str) -> dict[str, Any]:
    """The export document: run, definition, steps, waits, invocations, events, audit and logs, redacted."""
    detail = await get_run_detail(ctx, run_id)
    version = await definitions.get_version(
        ctx.pool, tenant=ctx.tenant, workflow_id=detail.workflow_id, version=detail.workflow_version
    )
    document = detail.model_dump(mode="json")
    sections = {key: document.pop(key) for key in ("steps", "waits", "invocations", "events", "audit", "logs")}
    return {
        "format": EXPORT_FORMAT,
        "exportedAt": ctx.clock().isoformat(),
        "tenant": ctx.tenant,
        "run": document,
        "definition": version.definition if version else None,
        "definitionHash": version.definition_hash if version else None,
        **sections,
    }


def default_export_path(run_id: str, now: datetime, directory: Path | None = None) -> Path:
    """``run-<id>-<UTC timestamp>.json`` in ``directory`` (default: ``$RUNSTUDIO_HOME/exports``).

    Never the current directory: that is often a checkout, where an export would show up in ``git status``.
    """
    folder = directory if directory is not None else load_settings().exports_dir
    return folder / f"run-{run_id}-{now.strftime('%Y%m%dT%H%M%SZ')}.json"


async def export_run(
    ctx: ServiceContext, run_id: str, *, actor: Actor, path: Path | None = None, output_dir: Path | None = None
) -> Path:
    """Write the export document and return its absolute path.

    It goes to ``path`` when given (``runstudio export -o``), else to ``default_export_path`` in ``output_dir``
    (``--output-dir``; default ``$RUNSTUDIO_HOME/exports``). ``ExportFailed`` when the file cannot be written
    (the reason from the OS); nothing is audited then.
    """
    check_actor(actor.user, actor.source)
    for given, what in ((path, "export path"), (output_dir, "export directory")):
        if given is not None:
            # A NUL in a path makes the OS calls raise ValueError: refuse it as any other inbound value.
            check_lookup(str(given), what=what, max_length=MAX_PATH_LENGTH)
    document = await build_export(ctx, run_id)
    target = (path or default_export_path(document["run"]["run_id"], ctx.clock(), output_dir)).resolve()
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    try:
        await asyncio.to_thread(_write, target, text)
    except (OSError, UnicodeError) as exc:
        raise ExportFailed(f"cannot write the export of run {document['run']['run_id']} to {target}: {exc}") from exc
    await audit.record(ctx, actor, run_id=document["run"]["run_id"], action="export", path=str(target))
    return target


def _write(target: Path, text: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    # Written next to the target first so a reader never sees half a document.
    partial = target.with_name(target.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(target)
