"""Runtime goals: interpreted N-step run vs raw Temporal (10 and 50 steps), throughput at 50 concurrent runs,
and the worker's RSS over many runs — codec on, one worker, one dev server, measured side by side.

The raw baseline is ``bench.raw_workflow`` (one trivial activity N times); the interpreted run is a published
definition of N ``core.echo`` steps with every projection written to Postgres (``bench.interpreter_overhead``'s
definition). Raw and interpreted runs alternate, so drift in the machine's load lands on both.
"""

import asyncio
import gc
import statistics
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import psutil

from bench.common import Bench, Result, ratio_result
from bench.interpreter_overhead import definition
from bench.raw_workflow import BareWaitWorkflow, RawWorkflow, bench_echo

if TYPE_CHECKING:
    from temporalio.client import Client

    from engine.services.context import ServiceContext

WARMUP = 3


@dataclass
class Runtime:
    """A worker with the engine's workflow and the raw baseline, and how to start either."""

    bench: Bench
    ctx: "ServiceContext"
    client: "Client"

    async def raw(self, steps: int) -> float:
        """Seconds for one raw workflow of ``steps`` activities, start to result."""
        from engine.temporal import TASK_QUEUE

        began = time.perf_counter()
        await self.client.execute_workflow(RawWorkflow.run, steps, id=f"raw-{uuid.uuid4()}", task_queue=TASK_QUEUE)
        return time.perf_counter() - began

    async def interpreted(self, steps: int) -> float:
        """Seconds for one interpreted run of ``steps`` echo steps, from the started workflow to its result."""
        from engine.services.launch import launch_run
        from engine.temporal import workflow_id_for_run

        run_id = await launch_run(self.ctx, workflow_id=f"bench-{steps}", payload={})
        began = time.perf_counter()
        await self.client.get_workflow_handle(workflow_id_for_run(run_id)).result()
        return time.perf_counter() - began


@asynccontextmanager
async def runtime(
    bench: Bench, database: str, steps: tuple[int, ...], pool_size: int = 10, extra: tuple[dict[str, object], ...] = ()
) -> AsyncIterator[Runtime]:
    """A fresh database, a codec client and a worker running the engine's and the baseline workflows; the
    echo definitions of ``steps`` and the ``extra`` definitions published."""
    from temporalio.client import Client
    from temporalio.worker import Worker

    from engine.actions.registry import default_registry
    from engine.services.context import ServiceContext
    from engine.services.publish import publish_definition
    from engine.temporal import TASK_QUEUE
    from engine.temporal.activities import Activities
    from engine.temporal.codec import data_converter
    from engine.temporal.workflow import RunWorkflow
    from worker.main import build_sandbox_runner

    url = await bench.database(database)
    endpoints = await bench.endpoints(url)
    pool = await bench.pool(url, max_size=pool_size)
    client = await Client.connect(endpoints.temporal_address, data_converter=data_converter(bench.keyring))
    ctx = ServiceContext(pool, endpoints, "bench", _client=client, keyring=bench.keyring)
    for published in (*(definition(n) for n in steps), *extra):
        await publish_definition(ctx, published)
    activities = Activities(pool=pool, registry=default_registry(), keyring=bench.keyring)
    worker = Worker(
        client,
        task_queue=TASK_QUEUE,
        workflows=[RunWorkflow, RawWorkflow, BareWaitWorkflow],
        activities=[*activities.all(), bench_echo],
        workflow_runner=build_sandbox_runner(),
        max_concurrent_workflow_tasks=100,
    )
    async with worker:
        yield Runtime(bench, ctx, client)


async def overhead(rt: Runtime, steps: int, runs: int) -> Result:
    """Median interpreted / median raw for ``steps`` steps, alternating one of each ``runs`` times."""
    raw: list[float] = []
    interpreted: list[float] = []
    for i in range(runs + WARMUP):
        r = await rt.raw(steps)
        t = await rt.interpreted(steps)
        if i >= WARMUP:
            raw.append(r)
            interpreted.append(t)
    raw_ms = statistics.median(raw) * 1000
    interp_ms = statistics.median(interpreted) * 1000
    note = f"interpreted {interp_ms:.1f} ms vs raw {raw_ms:.1f} ms, median of {runs}, codec on"
    return ratio_result(f"overhead {steps} steps", interp_ms, raw_ms, 1.3, note)


async def throughput(rt: Runtime, concurrent: int, steps: int, rounds: int) -> Result:
    """Steps per second with ``concurrent`` runs at once, interpreted over raw (rounds alternate)."""
    raw_rates: list[float] = []
    interp_rates: list[float] = []
    for _ in range(rounds):
        began = time.perf_counter()
        await asyncio.gather(*(rt.raw(steps) for _ in range(concurrent)))
        raw_rates.append(concurrent * steps / (time.perf_counter() - began))
        began = time.perf_counter()
        await asyncio.gather(*(rt.interpreted(steps) for _ in range(concurrent)))
        interp_rates.append(concurrent * steps / (time.perf_counter() - began))
    raw_rate, interp_rate = statistics.median(raw_rates), statistics.median(interp_rates)
    note = f"interpreted {interp_rate:.0f} steps/s vs raw {raw_rate:.0f}; {concurrent} runs of {steps} steps x {rounds}"
    return ratio_result(f"throughput {concurrent} concurrent", interp_rate, raw_rate, 0.8, note, at_least=True)


async def worker_rss(rt: Runtime, runs: int, steps: int) -> Result:
    """RSS of the worker (this process hosts it) after a warm-up batch and after ``runs`` more runs."""
    me = psutil.Process()
    batch = 50

    async def some(n: int) -> None:
        for start in range(0, n, batch):
            await asyncio.gather(*(rt.interpreted(steps) for _ in range(min(batch, n - start))))

    await some(batch)
    gc.collect()
    before = me.memory_info().rss / 2**20
    await some(runs)
    gc.collect()
    after = me.memory_info().rss / 2**20
    growth = (after - before) / before * 100
    note = f"RSS {before:.0f} -> {after:.0f} MB over {runs} runs of {steps} steps (worker in the bench process)"
    return Result(
        f"worker RSS over {runs} runs", growth, 10.0, abs(growth) / 10.0, abs(growth) <= 10.0, note, "%", "flat +-10 %"
    )


async def runtime_goals(bench: Bench) -> list[Result]:
    """Overhead at 10 and 50 steps, throughput at 50 concurrent runs, worker RSS."""
    async with runtime(bench, "bench_runtime", (3, 10, 50), pool_size=20) as rt:
        return [
            await overhead(rt, 10, bench.pick(3, 30)),
            await overhead(rt, 50, bench.pick(2, 15)),
            await throughput(rt, 50, 10, bench.pick(1, 3)),
            await worker_rss(rt, bench.pick(50, 500, 10_000), 3),
        ]


GOALS = {"runtime": runtime_goals}
