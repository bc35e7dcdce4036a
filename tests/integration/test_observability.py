"""The worker's /metrics counts runs and steps and relays Temporal SDK metrics; /healthz tells the truth."""

import asyncio
import json
import logging
import re
import socket

import asyncpg
import httpx
from temporalio.testing import WorkflowEnvironment

from engine.actions.registry import default_registry
from engine.config import Settings
from engine.log_context import log_context
from engine.services.context import ServiceContext
from engine.services.launch import launch_run
from engine.stack import Endpoints
from engine.temporal.activities import Activities
from tests.helpers import publish_examples, wait_for_run, wait_until
from worker import observability
from worker.main import build_worker, health_check, run_worker


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
            assert "process_resident_memory_bytes" in after
            assert (await http.get(f"{base}/nope")).status_code == 404
    finally:
        stop.set()
        await asyncio.wait_for(worker, timeout=30)


async def test_health_is_503_unless_the_temporal_worker_is_polling(
    private_temporal: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    """Healthy means: the SDK worker runs (namespace validated, polling), we are not stopping, Postgres answers."""
    temporal_worker = build_worker(private_temporal.client, Activities(pool=db_pool, registry=default_registry()))
    stop = asyncio.Event()
    healthy = health_check(temporal_worker, db_pool, stop)
    async with (
        observability.serve(0, sdk_metrics_address=None, healthy=healthy, host="127.0.0.1") as port,
        httpx.AsyncClient(timeout=5) as http,
    ):
        url = f"http://127.0.0.1:{port}/healthz"

        async def status_is(code: int) -> bool:
            return (await http.get(url)).status_code == code

        not_started = await http.get(url)
        assert not_started.status_code == 503
        assert not_started.json() == {"status": "unhealthy", "task_queue": "workflow-runtime-v2"}
        async with temporal_worker:
            await wait_until(lambda: status_is(200), timeout=20, what="the polling worker to report healthy")
            stop.set()  # shutting down: orchestrators should stop counting this worker at once
            assert await status_is(503)
            stop.clear()
            assert await status_is(200)
        assert temporal_worker.is_shutdown
        assert await status_is(503)


async def test_a_health_check_that_fails_or_hangs_is_a_503_and_odd_requests_are_answered() -> None:
    async def broken() -> bool:
        raise ConnectionRefusedError("database down")

    async def hangs() -> bool:
        await asyncio.Event().wait()
        return True

    for check in (broken, hangs):
        async with (
            observability.serve(0, sdk_metrics_address=None, healthy=check, host="127.0.0.1") as port,
            httpx.AsyncClient(timeout=5) as http,
        ):
            response = await http.get(f"http://127.0.0.1:{port}/healthz")
            assert response.status_code == 503
            assert response.json()["status"] == "unhealthy"
            assert (await http.get(f"http://127.0.0.1:{port}/metrics?debug=1")).status_code == 200
            assert (await http.post(f"http://127.0.0.1:{port}/metrics")).status_code == 405
            head = await http.head(f"http://127.0.0.1:{port}/metrics")
            assert head.status_code == 200 and head.content == b""


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


def test_json_log_lines_carry_extra_fields_such_as_the_sdk_activity_context() -> None:
    record = logging.LogRecord("temporalio.activity", logging.WARNING, __file__, 1, "failed\nbadly", None, None)
    record.temporal_activity = {"workflow_id": "workflow-runtime-v2:run:r-1", "activity_type": "run_action"}
    event = json.loads(observability.JsonFormatter().format(record))
    assert event["temporal_activity"]["workflow_id"] == "workflow-runtime-v2:run:r-1"
    assert event["message"] == "failed\nbadly"
    assert not {"args", "msg", "exc_info", "lineno"} & set(event)
