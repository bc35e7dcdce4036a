"""Promise 6 under worker deaths: SIGKILL at random moments and inside an action, between its side
effect and the ledger's record; a supervisor restarts the worker each time.
"""

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable

import pytest

from tests.faults.conftest import Size
from tests.faults.figures import Figures, converge, measure, report
from tests.faults.load import Driver, Launcher, drive, publish_suite, sleep_until
from tests.faults.stack import FaultStack, Workers
from tests.helpers import wait_until

pytestmark = pytest.mark.faults

TENANT = "faults-kill"


async def supervise(workers: Workers, wanted: int, stop: asyncio.Event) -> None:
    """Keep ``wanted`` workers alive, as systemd or Kubernetes would."""
    while not stop.is_set():
        workers.replace_dead(wanted)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=0.2)


def _taken(workers: Workers) -> Callable[[], Awaitable[bool]]:
    async def taken() -> bool:
        return not workers.armed()

    return taken


@pytest.mark.timeout(600)
async def test_worker_sigkills_lose_nothing_and_repeat_no_side_effect(stack: FaultStack, size: Size, seed: int) -> None:
    rng = random.Random(seed)
    ctx = stack.context(TENANT)
    await publish_suite(ctx)
    driver, launcher = Driver(ctx), Launcher(ctx, rng)
    stop_driver, driving = await drive(driver)
    stop_supervisor = asyncio.Event()
    supervising = asyncio.create_task(supervise(stack.workers, 1, stop_supervisor))

    # Runs arrive over the first part of the window; kills land anywhere in it, crashes while actions run.
    window = max(12.0, size.runs * 0.5)
    start = time.monotonic()
    launching = asyncio.create_task(launcher.launch(size.runs, over=window * 0.6))
    plan = [(rng.uniform(1.0, window), "kill") for _ in range(size.worker_kills)]
    plan += [(rng.uniform(0.5, window * 0.6), "crash") for _ in range(size.action_crashes)]
    kills = 0
    last_fault = start
    for at, what in sorted(plan):
        await sleep_until(start + at)
        if what == "kill":
            alive = stack.workers.alive()
            if alive:
                await asyncio.to_thread(stack.workers.kill, alive[0])
                kills += 1
                last_fault = time.monotonic()
        else:
            stack.workers.arm_crash()
    await launching
    # An armed crash is taken by the next crash-notify attempt; give the last runs time to reach it.
    with contextlib.suppress(AssertionError):
        await wait_until(_taken(stack.workers), timeout=30, what="the armed crash to be taken")
    (stack.workers.crash_dir / "crash-next").unlink(missing_ok=True)
    crashes = stack.workers.crashes()
    last_fault = max(last_fault, stack.workers.last_crash() or last_fault)

    converge_s = await converge(stack.pool, TENANT, size.runs, since=last_fault, timeout=size.timeout)
    stop_driver.set()
    stop_supervisor.set()
    await asyncio.gather(driving, supervising)
    figures = Figures("worker-sigkill", seed, faults=kills + crashes, converge_s=converge_s)
    figures.notes = {
        "kills": kills,
        "crash_in_action": crashes,
        "worker_starts": stack.workers.started,
        "events_resent": driver.resent,
    }
    await measure(figures, stack.pool, stack.client, TENANT, launcher.run_ids)
    assert crashes >= 1, "no worker died inside an action: the deterministic crash never fired"
    report(figures)
