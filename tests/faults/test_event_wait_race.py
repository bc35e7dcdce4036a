"""An event delivered in the workflow task that opens its wait is kept, not dropped.

Found by the dev-size worker-kill scenario (2 runs lost in 180): the wait row is written by a local
activity inside the workflow task that opens the wait, so ingress can see the wait and signal the run
before that task completes. If the worker dies then, the retried task gets the signal delivered first,
and opening the wait used to drop every event received so far — this one included. The event was
recorded and "routed", a resend was a duplicate, and the run waited forever.

Freezing a worker inside that gap is a race of milliseconds, so this test builds the same history
deterministically: with no worker alive, the event's signal lands while the timer before the wait is
pending; the next worker's first task gets the timer and the signal together and opens the wait in it.
"""

import asyncio
import time

import pytest

from engine.services.launch import launch_run
from engine.services.publish import publish_definition
from engine.temporal import workflow_id_for_run
from engine.temporal.contracts import EventSignal
from engine.temporal.workflow import RunWorkflow
from tests.faults.stack import FaultStack
from tests.helpers import wait_until

pytestmark = pytest.mark.faults

TENANT = "faults-wait-race"
TIMER_S = 3

DEFINITION = {
    "id": "wait-race",
    "version": 1,
    "name": "wait race",
    "steps": [
        {"id": "pause", "type": "time.wait", "durationMs": TIMER_S * 1000},
        {
            "id": "wait",
            "type": "event.wait",
            "eventName": "go",
            "correlationKey": {"$expr": "payload.key"},
            "saveAs": "vars.event",
        },
    ],
}

OPEN_TIME_WAIT = """
SELECT true FROM workflow_run_waits
 WHERE tenant = $1 AND run_id = $2::uuid AND wait_type = 'time' AND status = 'WAITING'
"""
RUN_STATE = "SELECT status, vars_json FROM workflow_runs WHERE tenant = $1 AND run_id = $2::uuid"


@pytest.mark.timeout(180)
async def test_an_event_delivered_in_the_task_that_opens_its_wait_resolves_it(stack: FaultStack) -> None:
    ctx = stack.context(TENANT)
    await publish_definition(ctx, DEFINITION)
    run_id = await launch_run(ctx, workflow_id="wait-race", payload={"key": "k1"})

    async def timer_open() -> bool:
        return bool(await stack.pool.fetchval(OPEN_TIME_WAIT, TENANT, run_id))

    handle = stack.client.get_workflow_handle(workflow_id_for_run(run_id))

    async def timer_started() -> bool:
        # The wait row is written inside the task that starts the timer; only the task's completion (the
        # timer in the history) makes the signal below land in a later task, the one that opens the wait.
        history = await handle.fetch_history()
        return any(event.HasField("timer_started_event_attributes") for event in history.events)

    await wait_until(timer_open, timeout=60, what="the timer before the event wait")
    await wait_until(timer_started, timeout=60, what="the task that started the timer to complete")
    for proc in stack.workers.alive():
        stack.workers.kill(proc)
    # What ingress sends once it sees the wait row; here it lands before the wait exists in the workflow.
    signal = EventSignal(event_id="e1", event_name="go", correlation_key="k1", payload={"v": 1})
    await handle.signal(RunWorkflow.event, signal)
    await asyncio.sleep(TIMER_S + 0.5)  # the timer is due: the next task resolves it and opens the wait
    stack.workers.start()

    deadline = time.monotonic() + 90
    status, variables = await stack.pool.fetchrow(RUN_STATE, TENANT, run_id)
    while status not in ("SUCCEEDED", "FAILED", "CANCELED") and time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        status, variables = await stack.pool.fetchrow(RUN_STATE, TENANT, run_id)
    assert status == "SUCCEEDED", f"run {run_id} is {status}: the event delivered with the opening task was dropped"
    assert variables["event"] == {"v": 1}
