"""Promise 6 through a Temporal crash: the dev server is SIGKILLed with timers, event waits and human tasks
in flight, and restarted by the devstack on its SQLite file; waiting runs resume where they were.
"""

import asyncio
import random
import time

import pytest

from tests.faults.conftest import Size
from tests.faults.figures import Figures, converge, measure, report
from tests.faults.load import Driver, Launcher, drive, publish_suite
from tests.faults.stack import FaultStack
from tests.faults.test_worker_kills import supervise
from tests.helpers import wait_until

pytestmark = pytest.mark.faults

TENANT = "faults-temporal"

OPEN_WAITS_BY_TYPE = """
SELECT wait_type, count(*) AS n FROM workflow_run_waits WHERE tenant = $1 AND status = 'WAITING' GROUP BY wait_type
"""


@pytest.mark.timeout(600)
async def test_temporal_killed_and_restarted_mid_load_loses_nothing(stack: FaultStack, size: Size, seed: int) -> None:
    rng = random.Random(seed)
    ctx = stack.context(TENANT)
    await publish_suite(ctx)
    # Waits are answered only after 2 s, so each kill finds timers, event waits and tasks all open.
    driver, launcher = Driver(ctx, hold_s=2.0), Launcher(ctx, rng)
    stop_driver, driving = await drive(driver)
    stop_supervisor = asyncio.Event()
    supervising = asyncio.create_task(supervise(stack.workers, 1, stop_supervisor))

    in_flight = {"time": 0, "event": 0, "human": 0}
    per_kill = max(2, size.runs // size.temporal_kills)
    last_fault = time.monotonic()
    for _ in range(size.temporal_kills):
        await launcher.launch(per_kill, over=2.0, nap_ms=(500, 6000))

        async def every_kind_waiting() -> dict[str, int] | None:
            counts = {r["wait_type"]: r["n"] for r in await stack.pool.fetch(OPEN_WAITS_BY_TYPE, TENANT)}
            return counts if all(counts.get(kind) for kind in in_flight) else None

        counts = await wait_until(every_kind_waiting, timeout=30, what="timers, event waits and tasks all open")
        await asyncio.to_thread(stack.kill_temporal)
        for kind in in_flight:
            in_flight[kind] += counts[kind]
        # Down long enough for workers' calls, events and completions to be refused and retried.
        await asyncio.sleep(rng.uniform(2.0, 4.0))
        await asyncio.to_thread(stack.start_temporal)
        last_fault = time.monotonic()

    converge_s = await converge(stack.pool, TENANT, len(launcher.run_ids), since=last_fault, timeout=size.timeout)
    stop_driver.set()
    stop_supervisor.set()
    await asyncio.gather(driving, supervising)
    figures = Figures("temporal-kill", seed, faults=size.temporal_kills, converge_s=converge_s)
    figures.notes = {
        "timers_in_flight": in_flight["time"],
        "event_waits_in_flight": in_flight["event"],
        "tasks_in_flight": in_flight["human"],
        "worker_starts": stack.workers.started,
        "events_resent": driver.resent,
    }
    await measure(figures, stack.pool, stack.client, TENANT, launcher.run_ids)
    report(figures)
