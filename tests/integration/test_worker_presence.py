"""The header's worker count is current: a dead worker drops out within ~10 s, a live idle one never does.

Against a real Temporal dev server started with the studio's poll setting (``DEV_SERVER_POLL_FLAGS``) and a
worker in a real separate process, killed with SIGKILL or stopped with SIGTERM.
"""

import asyncio
import signal
import sys
import time
import uuid
from collections.abc import Callable

import asyncpg
import pytest
from temporalio.testing import WorkflowEnvironment

from engine.services.context import ServiceContext
from engine.services.health import WorkerPresence, worker_presence
from engine.stack import Endpoints
from engine.temporal import LONG_POLL_EXPIRATION
from engine.temporal.client import POLLER_FRESHNESS, workflow_pollers

WORKER_SCRIPT = """
import asyncio, signal, sys
from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker
from engine.temporal import TASK_QUEUE

@workflow.defn(name="presence-probe")
class Probe:
    @workflow.run
    async def run(self) -> None:
        return None

async def main() -> None:
    client = await Client.connect(sys.argv[1])
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with Worker(client, task_queue=TASK_QUEUE, workflows=[Probe], workflow_runner=UnsandboxedWorkflowRunner()):
        await stop.wait()

asyncio.run(main())
"""

DEAD_WITHIN = POLLER_FRESHNESS.total_seconds() + 2
"""The window plus one refresh of slack on a loaded 2-core machine."""


def on(env: WorkflowEnvironment, pool: asyncpg.Pool, url: str) -> ServiceContext:
    address = env.client.service_client.config.target_host
    return ServiceContext(pool, Endpoints(url, address, "default"), f"w-{uuid.uuid4().hex[:8]}", _client=env.client)


async def start_worker(env: WorkflowEnvironment) -> asyncio.subprocess.Process:
    address = env.client.service_client.config.target_host
    return await asyncio.create_subprocess_exec(sys.executable, "-c", WORKER_SCRIPT, address)


async def until(
    ctx: ServiceContext, check: Callable[[WorkerPresence], bool], *, timeout: float
) -> tuple[WorkerPresence, float]:
    """Poll ``worker_presence`` until ``check(presence)`` holds; the presence and the seconds it took."""
    started = time.monotonic()
    while True:
        presence = await worker_presence(ctx)
        if check(presence):
            return presence, time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"still {presence} after {timeout} s")
        await asyncio.sleep(0.25)


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGTERM], ids=["killed", "stopped"])
async def test_a_dead_worker_is_not_counted_within_ten_seconds(
    private_temporal: WorkflowEnvironment, db_pool: asyncpg.Pool, migrated_database_url: str, stop: signal.Signals
) -> None:
    ctx = on(private_temporal, db_pool, migrated_database_url)
    worker = await start_worker(private_temporal)
    try:
        presence, _ = await until(ctx, lambda p: p.polling == 1, timeout=30)
        assert presence.gone == 0 and presence.last_seen is not None
        # Idle and alive for longer than two long polls: never reported gone in between.
        watched_until = time.monotonic() + 2 * LONG_POLL_EXPIRATION.total_seconds() + 1
        while time.monotonic() < watched_until:
            assert (await worker_presence(ctx)).polling == 1
            await asyncio.sleep(0.5)
        worker.send_signal(stop)
        await worker.wait()
        presence, took = await until(ctx, lambda p: p.polling == 0, timeout=30)
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()
    assert took <= DEAD_WITHIN, (
        f"contract (issue 15): a dead worker drops out of the count within the freshness window + one refresh "
        f"({DEAD_WITHIN:.0f} s); it was counted for {took:.1f} s"
    )
    # Temporal itself still lists the dead worker's poller: only its last-seen time tells it is gone.
    assert presence.gone == 1
    assert len(await workflow_pollers(private_temporal.client, seen_within=None)) == 1
    assert await workflow_pollers(private_temporal.client) == []


async def test_no_worker_at_all_is_zero_with_no_last_seen(
    private_temporal: WorkflowEnvironment, db_pool: asyncpg.Pool, migrated_database_url: str
) -> None:
    presence = await worker_presence(on(private_temporal, db_pool, migrated_database_url))
    assert presence == WorkerPresence(polling=0, gone=0, last_seen=None)
