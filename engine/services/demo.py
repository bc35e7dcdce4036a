"""Demo data for a fresh embedded stack: every example definition, and a few runs of them."""

import asyncio
import json
from pathlib import Path
from typing import Any

from engine.dsl.validate import DefinitionInvalid
from engine.services.context import ServiceContext
from engine.services.launch import launch_run
from engine.services.publish import publish_definition

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"
DEMO_FILE = "demo.json"

HAS_DEFINITIONS = "SELECT EXISTS (SELECT 1 FROM workflow_definitions WHERE tenant = $1)"


async def is_empty(ctx: ServiceContext) -> bool:
    """True when the tenant has no definitions at all."""
    return not await ctx.pool.fetchval(HAS_DEFINITIONS, ctx.tenant)


def _read_definitions(directory: Path) -> list[dict[str, Any]]:
    return [
        json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(directory.glob("*.json"))
        if path.name != DEMO_FILE
    ]


async def publish_examples(ctx: ServiceContext, directory: Path = EXAMPLES_DIR) -> list[str]:
    """Publish every example definition; those calling others are retried once their children exist."""
    pending = await asyncio.to_thread(_read_definitions, directory)
    published: list[str] = []
    while pending:
        left: list[dict[str, Any]] = []
        last_error: DefinitionInvalid | None = None
        for raw in pending:
            try:
                await publish_definition(ctx, raw)
                published.append(raw["id"])
            except DefinitionInvalid as exc:
                left.append(raw)
                last_error = exc
        if len(left) == len(pending):
            assert last_error is not None
            raise last_error
        pending = left
    return published


async def load_demo(ctx: ServiceContext, directory: Path = EXAMPLES_DIR) -> list[str]:
    """Publish the examples and start the demo runs; return the new run ids."""
    await publish_examples(ctx, directory)
    text = await asyncio.to_thread((directory / DEMO_FILE).read_text, encoding="utf-8")
    spec = json.loads(text)
    return [await launch_run(ctx, workflow_id=run["workflowId"], payload=run["payload"]) for run in spec["runs"]]
