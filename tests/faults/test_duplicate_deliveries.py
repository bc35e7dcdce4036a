"""Promise 6 under duplicate and concurrent deliveries: one event id sent 20 times at once (through the
API, and as 20 inbox INSERTs), one task completed 20 times at once, and both signals redelivered
straight to the workflow afterwards. Each is accepted once; nothing runs twice.
"""

import asyncio
import json
import random
import time
from typing import Any

import pytest

from engine.services.context import ServiceContext
from engine.services.ingress import submit_event
from engine.services.tasks import TaskNotOpen, complete_task
from engine.store.db import create_pool
from engine.temporal import workflow_id_for_run
from engine.temporal.contracts import EventSignal, TaskCompletion
from engine.temporal.workflow import RunWorkflow
from tests.faults.conftest import Size
from tests.faults.figures import Figures, converge, measure, report
from tests.faults.load import ACTOR, EVENT_NAME, INSERT_INBOX_EVENT, Launcher, publish_suite
from tests.faults.stack import FaultStack
from tests.helpers import wait_until

pytestmark = pytest.mark.faults

TENANT = "faults-dup"
COPIES = 20
REDELIVERIES = 3

WAITING_ON = """
SELECT count(*) FROM workflow_run_waits WHERE tenant = $1 AND wait_type = $2 AND status = 'WAITING'
"""
EVENT_ROWS = "SELECT count(*) FROM workflow_runtime_events WHERE tenant = $1 AND event_id = $2"
EVENT_PAYLOAD = "SELECT payload FROM workflow_runtime_events WHERE tenant = $1 AND event_id = $2"
OPEN_TASK = "SELECT task_id::text FROM workflow_tasks WHERE tenant = $1 AND run_id = $2 AND status = 'OPEN'"
INBOX_UNSETTLED = """
SELECT count(*) FROM workflow_event_inbox WHERE tenant = $1 AND (processed_at IS NULL OR last_error IS NOT NULL)
"""
RUN_VARS = "SELECT vars_json FROM workflow_runs WHERE tenant = $1 AND run_id = $2"


@pytest.mark.timeout(300)
async def test_duplicate_and_concurrent_deliveries_are_accepted_once(stack: FaultStack, size: Size, seed: int) -> None:
    rng = random.Random(seed)
    ctx = stack.context(TENANT)
    # Twenty callers are twenty processes, each with its own pool: one process routing N events at once
    # needs 2N connections (documented in engine.services.ingress), which one small pool would not have.
    pools = [await create_pool(stack.endpoints.database_url, min_size=1, max_size=2) for _ in range(COPIES)]
    try:
        await _scenario(
            stack,
            size,
            seed,
            rng,
            ctx,
            [ServiceContext(p, stack.endpoints, TENANT, _client=stack.client) for p in pools],
        )
    finally:
        await asyncio.gather(*(p.close() for p in pools))


async def _scenario(
    stack: FaultStack, size: Size, seed: int, rng: random.Random, ctx: ServiceContext, callers: list[ServiceContext]
) -> None:
    await publish_suite(ctx)
    launcher = Launcher(ctx, rng)
    runs = max(2, size.runs // 2)
    await launcher.launch(runs, nap_ms=(100, 300))
    figures = Figures("duplicate-deliveries", seed)

    async def all_waiting_on(kind: str) -> bool:
        return int(await stack.pool.fetchval(WAITING_ON, TENANT, kind)) == runs

    await wait_until(lambda: all_waiting_on("event"), timeout=60, what="every run waiting for its event")
    event_ids: dict[str, str] = {}
    for i, run_id in enumerate(launcher.run_ids):
        event_id = event_ids[run_id] = f"dup-{run_id}"
        key = f"k-{i + 1}"
        if i % 2 == 0:
            outcomes = await asyncio.gather(
                *(
                    submit_event(callers[c], EVENT_NAME, {"copy": c}, event_id=event_id, correlation_key=key)
                    for c in range(COPIES)
                )
            )
            firsts = [o for o in outcomes if not o.duplicate]
            figures.duplicated_deliveries += max(0, len(firsts) - 1)
            if len(firsts) != 1 or firsts[0].signaled_run_ids != [run_id]:
                figures.problems.append(f"event {event_id}: {len(firsts)} first outcomes {firsts}")
        else:
            await asyncio.gather(
                *(
                    stack.pool.execute(INSERT_INBOX_EVENT, TENANT, event_id, EVENT_NAME, json.dumps({"copy": c}), key)
                    for c in range(COPIES)
                )
            )
        figures.faults += COPIES - 1
    # Once the events are routed, their signal arrives again, straight from Temporal's side.
    await wait_until(lambda: all_waiting_on("human"), timeout=60, what="every run waiting on its task")
    for i, run_id in enumerate(launcher.run_ids):
        handle = stack.client.get_workflow_handle(workflow_id_for_run(run_id))
        again = EventSignal(event_id=event_ids[run_id], event_name=EVENT_NAME, correlation_key=f"k-{i + 1}", payload={})
        for _ in range(REDELIVERIES):
            await handle.signal(RunWorkflow.event, again)
        figures.faults += REDELIVERIES

    accepted: dict[str, dict[str, Any]] = {}
    for run_id in launcher.run_ids:
        task_id = await stack.pool.fetchval(OPEN_TASK, TENANT, run_id)
        results = await asyncio.gather(
            *(complete_task(callers[c], task_id, {"approved": True, "by": c}, actor=ACTOR) for c in range(COPIES)),
            return_exceptions=True,
        )
        wins = [r for r in results if not isinstance(r, BaseException)]
        refusals = [r for r in results if isinstance(r, TaskNotOpen)]
        figures.duplicated_deliveries += max(0, len(wins) - 1)
        if len(wins) != 1 or len(refusals) != COPIES - 1:
            figures.problems.append(f"task {task_id}: {len(wins)} accepted, {len(refusals)} refused: {results}")
        if wins:
            accepted[run_id] = wins[0].response
        # A competing decision signaled behind the service's back must not replace the committed one.
        handle = stack.client.get_workflow_handle(workflow_id_for_run(run_id))
        rival = TaskCompletion(task_id=task_id, response={"approved": False, "by": -1}, completed_by="rival")
        for _ in range(REDELIVERIES):
            await handle.signal(RunWorkflow.complete_task, rival)
        figures.faults += COPIES - 1 + REDELIVERIES

    start = time.monotonic()
    figures.converge_s = await converge(stack.pool, TENANT, runs, since=start, timeout=size.timeout)
    await wait_until(lambda: _inbox_settled(stack), timeout=30, what="every inbox row processed without error")
    for run_id in launcher.run_ids:
        rows = await stack.pool.fetchval(EVENT_ROWS, TENANT, event_ids[run_id])
        figures.duplicated_deliveries += max(0, rows - 1)
        variables = await stack.pool.fetchval(RUN_VARS, TENANT, run_id) or {}
        recorded = await stack.pool.fetchval(EVENT_PAYLOAD, TENANT, event_ids[run_id])
        if variables.get("approval") != recorded:
            figures.problems.append(
                f"run {run_id}: approval {variables.get('approval')} is not the recorded {recorded}"
            )
            figures.duplicated_deliveries += 1
        if variables.get("review") != accepted.get(run_id):
            figures.problems.append(f"run {run_id}: review {variables.get('review')} is not {accepted.get(run_id)}")
            figures.duplicated_deliveries += 1
    await measure(figures, stack.pool, stack.client, TENANT, launcher.run_ids)
    figures.notes = {"copies": COPIES, "redeliveries": REDELIVERIES}
    report(figures)


async def _inbox_settled(stack: FaultStack) -> bool:
    return int(await stack.pool.fetchval(INBOX_UNSETTLED, TENANT)) == 0
