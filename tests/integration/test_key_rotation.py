"""Key rotation on Temporal payloads: a run started under key A stalls, naming ``key-a``, on a worker without
it; it completes once the keyring is [B, A]; and new runs are then encrypted under B."""

import logging
import uuid

import asyncpg
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from engine.actions.registry import default_registry
from engine.keyring import Keyring, parse_keys
from engine.services.context import ServiceContext
from engine.services.launch import launch_run
from engine.stack import Endpoints
from engine.temporal import client as temporal_client
from engine.temporal import workflow_id_for_run
from engine.temporal.activities import Activities
from engine.temporal.codec import PLAIN_DATA_CONVERTER, payload_key_id
from engine.temporal.contracts import EventSignal
from tests.conftest import cli_env
from tests.helpers import publish_examples, runstudio, wait_for_run, wait_until
from worker.main import build_worker

# TEST-ONLY keys (public, protect nothing).
KEY_A = "key-a:" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="
KEY_B = "key-b:" + "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI="


class Stack:
    """One Temporal server and database; clients and workers built per keyring, like processes after a restart."""

    def __init__(self, env: WorkflowEnvironment, pool: asyncpg.Pool, database_url: str) -> None:
        self.address: str = env.client.service_client.config.target_host
        self.pool = pool
        self.database_url = database_url
        self.tenant = f"rot-{uuid.uuid4().hex[:8]}"

    async def services(self, keyring: Keyring) -> ServiceContext:
        client = await temporal_client.connect(self.address, "default", keyring=keyring)
        endpoints = Endpoints(self.database_url, self.address, "default")
        return ServiceContext(self.pool, endpoints, self.tenant, _client=client, keyring=keyring)

    def worker_activities(self, keyring: Keyring) -> Activities:
        return Activities(pool=self.pool, registry=default_registry(), keyring=keyring)


async def started_payload_key(client: Client, run_id: str) -> str | None:
    """The key id of the run's start input, read through a client that cannot decrypt."""
    plain = await Client.connect(client.service_client.config.target_host, data_converter=PLAIN_DATA_CONVERTER)
    history = await plain.get_workflow_handle(workflow_id_for_run(run_id)).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    return payload_key_id(started.input.payloads[0])


async def test_a_run_under_the_old_key_completes_after_rotation_and_new_runs_use_the_new_key(
    private_temporal: WorkflowEnvironment,
    db_pool: asyncpg.Pool,
    migrated_database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    stack = Stack(private_temporal, db_pool, migrated_database_url)
    only_a, only_b, rotated = parse_keys(KEY_A), parse_keys(KEY_B), parse_keys(f"{KEY_B},{KEY_A}")

    under_a = await stack.services(only_a)
    await publish_examples(under_a, "event_wait")
    async with build_worker(await under_a.temporal(), stack.worker_activities(only_a)):
        run_id = await launch_run(under_a, workflow_id="event-wait", payload={"ticketId": "T-9", "minAmount": 10})
        await wait_for_run(under_a, run_id, frozenset({"WAITING"}))
    assert await started_payload_key(await under_a.temporal(), run_id) == "key-a"

    # The keyring lost key A: the next workflow task cannot decode the history, and the worker log says why.
    under_b = await stack.services(only_b)
    approval = EventSignal(
        event_id="e1", event_name="ticket.approved", correlation_key="T-9", payload={"amount": 50, "by": "ana"}
    )
    caplog.set_level(logging.WARNING)
    async with build_worker(await under_b.temporal(), stack.worker_activities(only_b)):
        handle = (await under_b.temporal()).get_workflow_handle(workflow_id_for_run(run_id))
        await handle.signal("event", approval)
        await wait_until(
            lambda: _async_value("'key-a'" in caplog.text), what="a workflow task failure naming key-a in the log"
        )
        assert "which is not in the keyring" in caplog.text
    assert (await wait_for_run(under_b, run_id, frozenset({"WAITING"}))).status == "WAITING"

    # The CLI without key A: what it shows comes from the read-model, so `show` works; what needs the original
    # (a replay opens the sealed input) fails with one error line naming the missing key.
    without_a = cli_env(
        RUNSTUDIO_DATABASE_URL=stack.database_url, TEMPORAL_ADDRESS=stack.address, RUNSTUDIO_ENCRYPTION_KEYS=KEY_B
    )
    shown = runstudio("--tenant", stack.tenant, "show", run_id, env=without_a)
    assert shown.returncode == 0 and "WAITING" in shown.stdout, shown
    replayed = runstudio("--tenant", stack.tenant, "replay", run_id, env=without_a)
    assert replayed.returncode == 1, replayed
    assert replayed.stderr.count("error:") == 1 and "'key-a'" in replayed.stderr, replayed.stderr

    # The key is back, behind the new one: the stalled run completes, and a new run is sealed under key B.
    after = await stack.services(rotated)
    async with build_worker(await after.temporal(), stack.worker_activities(rotated)):
        detail = await wait_for_run(after, run_id, timeout=60)
        assert detail.status == "SUCCEEDED", detail
        assert detail.vars["approvedBy"] == "ana"
        new_run = await launch_run(after, workflow_id="event-wait", payload={"ticketId": "T-10", "minAmount": 10})
        await wait_for_run(after, new_run, frozenset({"WAITING"}))
    assert await started_payload_key(await after.temporal(), new_run) == "key-b"


async def _async_value(value: bool) -> bool:
    return value
