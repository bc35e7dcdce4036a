"""Promise 6 through Postgres outages: a fast stop and an immediate stop (a crash, recovered from the WAL),
each for the size's outage length, mid-load, restarted by the devstack.
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

pytestmark = pytest.mark.faults

TENANT = "faults-pg"


@pytest.mark.timeout(600)
async def test_postgres_stops_mid_load_lose_nothing(stack: FaultStack, size: Size, seed: int) -> None:
    rng = random.Random(seed)
    ctx = stack.context(TENANT)
    await publish_suite(ctx)
    driver, launcher = Driver(ctx), Launcher(ctx, rng)
    stop_driver, driving = await drive(driver)
    stop_supervisor = asyncio.Event()
    supervising = asyncio.create_task(supervise(stack.workers, 1, stop_supervisor))

    per_wave = max(1, size.runs // 3)
    outages: list[float] = []
    for mode in ("fast", "immediate"):
        # Runs in every state when it goes: some starting, some in timers, some waiting on people.
        await launcher.launch(per_wave, over=2.0)
        await asyncio.sleep(rng.uniform(0.5, 2.0))
        down = time.monotonic()
        await asyncio.to_thread(stack.stop_postgres, mode)
        # Starts are refused while it is down; the launcher keeps trying, as a caller would.
        launching = asyncio.create_task(launcher.launch(2))
        await asyncio.sleep(size.outage_s)
        await asyncio.to_thread(stack.start_postgres)
        outages.append(time.monotonic() - down)
        await launching
    last_fault = time.monotonic()
    await launcher.launch(size.runs - len(launcher.run_ids), over=2.0)

    converge_s = await converge(stack.pool, TENANT, len(launcher.run_ids), since=last_fault, timeout=size.timeout)
    stop_driver.set()
    stop_supervisor.set()
    await asyncio.gather(driving, supervising)
    figures = Figures("postgres-stop", seed, faults=len(outages), converge_s=converge_s)
    figures.notes = {
        "outage_s": round(min(outages)),
        "starts_refused": launcher.refused,
        "worker_starts": stack.workers.started,
        "events_resent": driver.resent,
    }
    await measure(figures, stack.pool, stack.client, TENANT, launcher.run_ids)
    assert launcher.refused >= 1, "no start was refused: Postgres was not down while runs were launched"
    report(figures)
