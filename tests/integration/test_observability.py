"""The worker's /metrics counts runs and steps and relays Temporal SDK metrics; /healthz answers."""

import asyncio
import json
import logging
import re
import socket

import asyncpg
import httpx
from temporalio.testing import WorkflowEnvironment

from engine.config import Settings
from engine.log_context import log_context
from engine.services.context import ServiceContext
from engine.services.launch import launch_run
from engine.stack import Endpoints
from tests.helpers import publish_examples, wait_for_run, wait_until
from worker import observability
from worker.main import run_worker


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def sample(metrics: str, name: str, labels: str = "") -> float:
    match = re.search(rf"^{re.escape(name)}{re.escape(labels)} ([0-9.e+]+)$", metrics, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def test_metrics_count_a_run_and_health_answers(
    private_temporal: WorkflowEnvironment, db_pool: asyncpg.Pool, migrated_database_url: str
) -> None:
    port = free_port()
    address = private_temporal.client.service_client.config.target_host
    settings = Settings.model_validate(
        {"RUNSTUDIO_DATABASE_URL": migrated_database_url, "TEMPORAL_ADDRESS": address, "RUNSTUDIO_METRICS_PORT": port}
    )
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(settings, stop=stop))
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(timeout=5) as http:

            async def healthy() -> bool:
                try:
                    return (await http.get(f"{base}/healthz")).status_code == 200
                except httpx.TransportError:
                    return False

            await wait_until(healthy, timeout=30, what="the worker to report healthy")
            health = (await http.get(f"{base}/healthz")).json()
            assert health == {"status": "ok", "task_queue": "workflow-runtime-v2"}
            before = (await http.get(f"{base}/metrics")).text

            ctx = ServiceContext(
                db_pool,
                Endpoints(migrated_database_url, address, "default"),
                "metrics",
                _client=private_temporal.client,
            )
            await publish_examples(ctx, "echo_chain")
            run_id = await launch_run(ctx, workflow_id="echo-chain", payload={"ticket": {"id": 1}})
            assert (await wait_for_run(ctx, run_id)).status == "SUCCEEDED"

            after = (await http.get(f"{base}/metrics")).text
            assert sample(after, "runstudio_runs_started_total") >= sample(before, "runstudio_runs_started_total") + 1
            finished = 'runstudio_runs_finished_total{status="SUCCEEDED"}'
            assert sample(after, finished) >= sample(before, finished) + 1
            steps = 'runstudio_steps_total{status="SUCCEEDED"}'
            assert sample(after, steps) >= sample(before, steps) + 4
            assert "temporal_" in after  # the SDK's own runtime metrics, relayed
            assert (await http.get(f"{base}/nope")).status_code == 404
    finally:
        stop.set()
        await asyncio.wait_for(worker, timeout=30)


async def test_health_is_503_when_the_check_fails() -> None:
    async def unhealthy() -> bool:
        return False

    async with (
        observability.serve(0, sdk_metrics_address=None, healthy=unhealthy) as port,
        httpx.AsyncClient(timeout=5) as http,
    ):
        response = await http.get(f"http://127.0.0.1:{port}/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "unhealthy"


def test_json_log_lines_carry_the_bound_run_context() -> None:
    record = logging.LogRecord("runstudio.worker", logging.INFO, __file__, 1, "step %s done", ("s1",), None)
    with log_context(run_id="r-1", workflow_id="wf"):
        line = observability.JsonFormatter().format(record)
    event = json.loads(line)
    assert event["message"] == "step s1 done"
    assert event["level"] == "info"
    assert (event["run_id"], event["workflow_id"]) == ("r-1", "wf")
    assert "\n" not in line
    assert "run_id" not in json.loads(observability.JsonFormatter().format(record))
