"""Load for the fault scenarios: the suite's definitions, runs launched over time, and a driver that
answers their event waits and human tasks the way outside systems and people would.
"""

import asyncio
import contextlib
import json
import logging
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from engine.actions.builtin import BUILTIN_SPECS
from engine.actions.registry import ActionRegistry
from engine.services.audit import Actor
from engine.services.context import ServiceContext
from engine.services.ingress import get_event, submit_event
from engine.services.launch import launch_run
from engine.services.publish import publish_definition
from engine.services.tasks import complete_task, list_open_tasks
from tests.fixtures.example_plugin.crash_notify import SPEC as CRASH_NOTIFY

log = logging.getLogger("runstudio.faults")

DEFINITIONS = Path(__file__).resolve().parent / "definitions"
ROOT_WORKFLOW: Final = "faults-mixed"
EVENT_NAME: Final = "faults.approved"
ACTOR: Final = Actor(user="faults-driver", source="local")

OPEN_EVENT_WAITS: Final = """
SELECT run_id::text AS run_id, correlation_key FROM workflow_run_waits
 WHERE tenant = $1 AND wait_type = 'event' AND event_name = $2 AND status = 'WAITING'
   AND created_at < now() - make_interval(secs => $3)
"""

INSERT_INBOX_EVENT: Final = """
INSERT INTO workflow_event_inbox (tenant, event_id, event_name, payload, correlation_key)
VALUES ($1, $2, $3, $4::text::jsonb, $5)
"""


def registry() -> ActionRegistry:
    """The built-ins plus the suite's crash action, for publishing (workers load it by entry point)."""
    return ActionRegistry([*BUILTIN_SPECS, CRASH_NOTIFY])


async def publish_suite(ctx: ServiceContext) -> None:
    """Publish the child first (the parent's publish checks it exists), then the mixed definition."""
    for name in ("faults-child", ROOT_WORKFLOW):
        raw = json.loads((DEFINITIONS / f"{name}.json").read_text())
        await publish_definition(ctx, raw, registry=registry())


@dataclass
class Launcher:
    """Starts runs of the mixed definition; a start refused during an outage is retried, not counted lost."""

    ctx: ServiceContext
    rng: random.Random
    run_ids: list[str] = field(default_factory=list)
    refused: int = 0

    async def launch(self, count: int, *, over: float = 0.0, nap_ms: tuple[int, int] = (200, 1500)) -> None:
        """Launch ``count`` runs spread evenly over ``over`` seconds."""
        gap = over / count if count else 0.0
        for _ in range(count):
            n = len(self.run_ids) + 1
            payload = {"n": n, "key": f"k-{n}", "napMs": self.rng.randint(*nap_ms)}
            await self._launch_one(payload)
            if gap:
                await asyncio.sleep(gap)

    async def _launch_one(self, payload: dict[str, Any]) -> None:
        while True:
            try:
                self.run_ids.append(await launch_run(self.ctx, workflow_id=ROOT_WORKFLOW, payload=payload))
                return
            except Exception as exc:  # an outage refuses starts; the caller would try again
                self.refused += 1
                log.info("start refused (%s); retrying", exc)
                await asyncio.sleep(0.5)


@dataclass
class Driver:
    """Sends each waiting run its event (through the API or the inbox) and completes each open task."""

    ctx: ServiceContext
    via_inbox: bool = False
    hold_s: float = 0.0
    """Answer a wait only once it has been open this long, so that waits of every kind are in flight."""
    sent: dict[str, str] = field(default_factory=dict)
    """The last event id sent to each run."""
    resent: int = 0
    tasks_completed: int = 0
    errors: int = 0
    _tries: dict[str, int] = field(default_factory=dict)

    async def run(self, stop: asyncio.Event) -> None:
        """Drive until ``stop``; failures (an outage) are counted and tried again on the next round."""
        while not stop.is_set():
            try:
                await self.round()
            except Exception as exc:
                self.errors += 1
                log.info("driver round failed: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=0.25)

    async def round(self) -> None:
        """One pass over open event waits and open tasks."""
        for row in await self.ctx.pool.fetch(OPEN_EVENT_WAITS, self.ctx.tenant, EVENT_NAME, self.hold_s):
            run_id = row["run_id"]
            event_id = self.sent.get(run_id)
            if event_id is None:
                await self._send(run_id, row["correlation_key"])
                continue
            outcome = await get_event(self.ctx, event_id)
            # The recorded outcome is the sender's answer: only an event that says it was not routed is
            # sent again, under a new id (a resend under the same id is, rightly, a no-op duplicate).
            if outcome is not None and outcome.error is not None:
                self.resent += 1
                await self._send(run_id, row["correlation_key"])
        due = datetime.now(UTC) - timedelta(seconds=self.hold_s)
        for task in await list_open_tasks(self.ctx):
            if task.created_at > due:
                continue
            try:
                await complete_task(self.ctx, task.task_id, {"approved": True}, actor=ACTOR)
                self.tasks_completed += 1
            except Exception as exc:
                self.errors += 1
                log.info("task %s not completed: %s", task.task_id, exc)

    async def _send(self, run_id: str, key: str) -> None:
        tries = self._tries.get(run_id, 0)
        self._tries[run_id] = tries + 1
        event_id = f"ev-{run_id}" if tries == 0 else f"ev-{run_id}-{tries}"
        if self.via_inbox:
            payload = json.dumps({"ok": True})
            await self.ctx.pool.execute(INSERT_INBOX_EVENT, self.ctx.tenant, event_id, EVENT_NAME, payload, key)
        else:
            await submit_event(self.ctx, EVENT_NAME, {"ok": True}, event_id=event_id, correlation_key=key)
        self.sent[run_id] = event_id


async def drive(driver: Driver) -> tuple[asyncio.Event, "asyncio.Task[None]"]:
    """Start ``driver`` in the background; set the event to stop it."""
    stop = asyncio.Event()
    return stop, asyncio.create_task(driver.run(stop))


async def sleep_until(deadline: float) -> None:
    """Sleep until the monotonic ``deadline``."""
    await asyncio.sleep(max(0.0, deadline - time.monotonic()))
