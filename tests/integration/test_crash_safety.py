"""Nothing is lost when the worker process dies: the run finishes on a new worker, side effects once."""

import asyncio
import os
import signal
import subprocess
import sys

import asyncpg
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from engine.services.context import ServiceContext
from engine.services.launch import launch_run
from engine.stack import Endpoints
from engine.store.db import create_pool
from engine.temporal import client as temporal_client
from tests.conftest import cli_env
from tests.helpers import publish_examples, wait_for_run, wait_until


def start_worker(database_url: str, address: str) -> subprocess.Popen[bytes]:
    env = cli_env(
        RUNSTUDIO_DATABASE_URL=database_url,
        TEMPORAL_ADDRESS=address,
        TEMPORAL_NAMESPACE="default",
        RUNSTUDIO_HTTP_ALLOWED_HOSTS="127.0.0.1",
    )
    return subprocess.Popen(
        [sys.executable, "-c", "from runstudio.cli import main; main()", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


async def wait_for_pollers(client: Client, count: int) -> None:
    async def enough() -> bool:
        return len(await temporal_client.workflow_pollers(client)) >= count

    await wait_until(enough, timeout=20, what="a worker polling the task queue")


async def test_sigkilled_worker_mid_run_loses_nothing_and_repeats_no_side_effect(
    private_temporal: WorkflowEnvironment, migrated_database_url: str
) -> None:
    client = private_temporal.client
    address = client.service_client.config.target_host
    pool: asyncpg.Pool = await create_pool(migrated_database_url)
    services = ServiceContext(
        pool=pool, endpoints=Endpoints(migrated_database_url, address, "default"), tenant="crash", _client=client
    )
    workers: list[subprocess.Popen[bytes]] = []
    try:
        await publish_examples(services, "notify_once")
        workers.append(start_worker(migrated_database_url, address))
        await wait_for_pollers(client, 1)
        run_id = await launch_run(services, workflow_id="notify-once", payload={"ticketId": "T-42"})

        async def waiting_after_notify() -> bool:
            row = await pool.fetchrow(
                "SELECT status FROM workflow_run_waits WHERE tenant = 'crash' AND run_id = $1 AND step_path = $2",
                run_id,
                "root.steps[2]",
            )
            return row is not None and row["status"] == "WAITING"

        await wait_until(waiting_after_notify, timeout=20, what="the run to wait after notifying")
        os.killpg(workers[0].pid, signal.SIGKILL)
        workers[0].wait(timeout=10)
        assert (await pool.fetchval("SELECT status FROM workflow_runs WHERE run_id = $1", run_id)) == "WAITING"

        workers.append(start_worker(migrated_database_url, address))
        detail = await wait_for_run(services, run_id, timeout=60)
        assert detail.status == "SUCCEEDED", detail.error
        assert detail.vars["done"] is True
        assert [(s.step_id, s.status) for s in detail.steps] == [
            ("before", "SUCCEEDED"),
            ("notify", "SUCCEEDED"),
            ("after", "SUCCEEDED"),
            ("done", "SUCCEEDED"),
        ]
        outbox = await pool.fetch("SELECT payload FROM workflow_notify_outbox WHERE tenant = 'crash'")
        assert [r["payload"] for r in outbox] == [{"ticketId": "T-42"}]
        assert [(i.action, i.attempt, i.status) for i in detail.invocations] == [("notify.outbox", 1, "SUCCEEDED")]
    finally:
        for proc in workers:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
        await pool.close()


async def test_sigterm_stops_the_worker_gracefully(
    private_temporal: WorkflowEnvironment, migrated_database_url: str
) -> None:
    address = private_temporal.client.service_client.config.target_host
    proc = start_worker(migrated_database_url, address)
    try:
        await wait_for_pollers(private_temporal.client, 1)
        os.killpg(proc.pid, signal.SIGTERM)
        code = await asyncio.to_thread(proc.wait, 20)
        stderr = proc.stderr.read().decode() if proc.stderr else ""
        assert code == 0, stderr
        assert "worker polling task queue workflow-runtime-v2" in stderr
        assert "worker stopped" in stderr
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.mark.parametrize(
    ("method", "ledger_attempts"),
    [
        # Impure (POST): claimed STARTED before it runs, so the killed attempt counts in the ledger row.
        ("POST", 2),
        # Pure (GET): recorded with its result once it ran, so the killed attempt left no trace to count.
        ("GET", 1),
    ],
)
async def test_a_worker_killed_during_an_action_is_noticed_by_heartbeat_and_the_attempt_rerun(
    private_temporal: WorkflowEnvironment, migrated_database_url: str, method: str, ledger_attempts: int
) -> None:
    hits: list[int] = []
    first_request_arrived = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        hits.append(len(hits) + 1)
        if len(hits) == 1:
            first_request_arrived.set()
            await asyncio.sleep(3600)  # the first attempt never gets an answer: its worker dies meanwhile
        body = b'{"ok": true}'
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = private_temporal.client
    address = client.service_client.config.target_host
    pool: asyncpg.Pool = await create_pool(migrated_database_url)
    services = ServiceContext(
        pool=pool,
        endpoints=Endpoints(migrated_database_url, address, "default"),
        tenant=f"crash-http-{method.lower()}",
        _client=client,
    )
    workers: list[subprocess.Popen[bytes]] = []
    try:
        from engine.services.publish import publish_definition

        await publish_definition(
            services,
            {
                "id": "call-out",
                "version": 1,
                "name": "Call out",
                "steps": [
                    {
                        "id": "call",
                        "type": "action.call",
                        "action": "http.request",
                        "version": 1,
                        "input": {"url": f"http://127.0.0.1:{port}/hit", "method": method, "timeoutMs": 60000},
                        "saveAs": "vars.response",
                    }
                ],
            },
        )
        workers.append(start_worker(migrated_database_url, address))
        await wait_for_pollers(client, 1)
        run_id = await launch_run(services, workflow_id="call-out", payload={})
        await asyncio.wait_for(first_request_arrived.wait(), timeout=30)
        os.killpg(workers[0].pid, signal.SIGKILL)
        workers[0].wait(timeout=10)
        workers.append(start_worker(migrated_database_url, address))
        detail = await wait_for_run(services, run_id, timeout=90)
        assert detail.status == "SUCCEEDED", detail.error
        assert detail.vars["response"]["json"] == {"ok": True}
        assert hits == [1, 2]  # at least once: the killed attempt had reached the server
        assert [(i.action, i.attempt, i.status) for i in detail.invocations] == [
            ("http.request", ledger_attempts, "SUCCEEDED")
        ]
        assert [(s.step_id, s.attempt, s.status) for s in detail.steps] == [("call", 1, "SUCCEEDED")]
    finally:
        for proc in workers:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        server.close()
        await pool.close()
