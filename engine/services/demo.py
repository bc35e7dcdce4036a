"""Demo data for a fresh embedded stack: every example definition, and a few runs of them.

Besides the runs in ``examples/demo.json`` (one per kind of step) the demo makes the outcomes a newcomer would
otherwise never see: a FAILED run, a CANCELED run, and a replay beside its original.
"""

import asyncio
import json
from pathlib import Path
from typing import Any

from engine.dsl.validate import DefinitionInvalid
from engine.services.audit import Actor
from engine.services.cancel import cancel_run
from engine.services.context import ServiceContext
from engine.services.launch import launch_run
from engine.services.publish import publish_definition
from engine.services.replay import replay_run

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"
DEMO_FILE = "demo.json"

HAS_DEFINITIONS = "SELECT EXISTS (SELECT 1 FROM workflow_definitions WHERE tenant = $1)"

DEMO_ACTOR = Actor(user="runstudio-demo", source="local")
"""Who the audit trail says canceled and replayed the demo runs."""

FAILING_RUN: dict[str, Any] = {"workflowId": "foreach", "payload": {"items": [{"name": "disk", "price": "forty"}]}}
"""Ends FAILED: adding a price given as text is a JSONata type error, which no step catches."""

CANCELED_RUN: dict[str, Any] = {"workflowId": "timer", "payload": {"waitMs": 3_600_000}}
"""Canceled as soon as it starts: an hour-long timer the worker unwinds into CANCELED."""

REPLAYED_RUN: dict[str, Any] = {"workflowId": "echo-chain", "payload": {"ticket": {"id": 2002}}}
"""Started, then replayed unedited: the replay links to it as its original."""


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
    """Publish the examples and start the demo runs, then a failing, a canceled and a replayed one.

    Returns every new run id, the replay last. The cancel needs Temporal to accept it (``runstudio up`` has
    its worker running by then; without one the run shows its pending cancel until a worker applies it).
    """
    await publish_examples(ctx, directory)
    text = await asyncio.to_thread((directory / DEMO_FILE).read_text, encoding="utf-8")
    spec = json.loads(text)
    started = [await launch_run(ctx, workflow_id=run["workflowId"], payload=run["payload"]) for run in spec["runs"]]
    for run in (FAILING_RUN, CANCELED_RUN, REPLAYED_RUN):
        started.append(await launch_run(ctx, workflow_id=run["workflowId"], payload=run["payload"]))
    await cancel_run(ctx, started[-2], actor=DEMO_ACTOR)
    started.append(await replay_run(ctx, started[-1], payload=None, actor=DEMO_ACTOR))
    return started
