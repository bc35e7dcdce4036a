"""Runs are findable with Temporal's own tools: typed search attributes and a readable memo on every run
workflow (launched, replayed, event-triggered, child), a doctor check for the attributes, a refused start
with the fix on a namespace without them, and ``show`` pointing at the run in Temporal's Web UI."""

import asyncio
import json
import subprocess
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from temporalio.testing import WorkflowEnvironment

from engine.services.audit import Actor
from engine.services.context import ServiceContext
from engine.services.doctor import run_checks
from engine.services.ingress import submit_event
from engine.services.launch import LaunchFailed, launch_run
from engine.services.publish import publish_definition
from engine.services.replay import replay_run
from engine.services.runs import get_run_detail
from engine.stack import Endpoints
from engine.temporal import WORKFLOW_ID_PREFIX, workflow_id_for_run
from engine.temporal.visibility import create_commands
from tests.conftest import TEST_DATA_CONVERTER, cli_env, venv_binary
from tests.helpers import example, publish_examples, runstudio, wait_for_run, wait_until

TICKET = {"ticket": {"id": 7}}
UI = "http://127.0.0.1:9"
"""A Web UI address for links only: nothing needs to answer there."""


def on(env: WorkflowEnvironment, pool: asyncpg.Pool, url: str) -> ServiceContext:
    address = env.client.service_client.config.target_host
    return ServiceContext(pool, Endpoints(url, address, "default"), f"v-{uuid.uuid4().hex[:8]}", _client=env.client)


def temporal_cli(address: str, *args: str) -> Any:
    """Run the bundled ``temporal`` CLI against ``address`` and parse its JSON output."""
    done = subprocess.run(
        [venv_binary("temporal"), *args, "--address", address, "-o", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=cli_env(),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout or "null")


async def listed(address: str, query: str) -> set[str]:
    """Run ids of ``temporal workflow list --query``."""
    rows = await asyncio.to_thread(temporal_cli, address, "workflow", "list", "--query", query)
    return {row["execution"]["workflowId"].removeprefix(WORKFLOW_ID_PREFIX) for row in rows or []}


async def finds(address: str, query: str, expected: set[str]) -> None:
    """``query`` lists exactly ``expected`` (visibility is eventually consistent, so poll a little)."""

    async def matches() -> bool:
        return await listed(address, query) == expected

    try:
        await wait_until(matches, timeout=10, what=query)
    except AssertionError:
        assert await listed(address, query) == expected, query


def event_triggered(workflow_id: str) -> dict[str, Any]:
    return {
        "id": workflow_id,
        "version": 1,
        "name": workflow_id,
        "trigger": {"type": "event", "eventName": "order.created"},
        "steps": [{"id": "note", "type": "state.assign", "assign": {"vars.order": {"$expr": "payload.orderId"}}}],
    }


async def test_every_kind_of_start_is_findable_by_each_search_attribute_and_carries_a_readable_memo(
    private_temporal: WorkflowEnvironment, db_pool: asyncpg.Pool, migrated_database_url: str
) -> None:
    # A server of its own, so "exactly these runs" means something; no worker is needed to be listed.
    ctx = on(private_temporal, db_pool, migrated_database_url)
    address = ctx.endpoints.temporal_address
    await publish_examples(ctx, "echo_chain", "branching")
    await publish_definition(ctx, {**example("echo_chain"), "version": 2})
    await publish_definition(ctx, event_triggered("on-order"))
    first = await launch_run(ctx, workflow_id="echo-chain", version=1, payload=TICKET)
    latest = await launch_run(ctx, workflow_id="echo-chain", payload=TICKET)
    other = await launch_run(ctx, workflow_id="branching", payload={})
    replay = await replay_run(ctx, first, payload=None, actor=Actor(user="tester", source="local"))
    outcome = await submit_event(ctx, "order.created", {"orderId": "O-1"}, event_id=f"evt-{uuid.uuid4().hex[:8]}")
    [by_event] = outcome.started_run_ids

    everything = {first, latest, other, replay, by_event}
    await finds(address, "RunStudioWorkflowId='echo-chain'", {first, latest, replay})
    await finds(address, f"RunStudioTenant='{ctx.tenant}'", everything)
    await finds(address, "RunStudioTenant='someone-else'", set())
    await finds(address, "RunStudioWorkflowVersion=2", {latest})
    await finds(address, "RunStudioWorkflowId='echo-chain' AND RunStudioWorkflowVersion=1", {first, replay})
    await finds(address, "RunStudioTrigger='manual'", {first, latest, other})
    await finds(address, "RunStudioTrigger='replay'", {replay})
    await finds(address, "RunStudioTrigger='event'", {by_event})

    described = await asyncio.to_thread(
        temporal_cli, address, "workflow", "describe", "--workflow-id", workflow_id_for_run(latest)
    )
    memo = described["workflowExecutionInfo"]["memo"]["fields"]
    assert memo == {"tenant": ctx.tenant, "workflowId": "echo-chain", "workflowVersion": 2, "trigger": "manual"}
    replayed = await asyncio.to_thread(
        temporal_cli, address, "workflow", "describe", "--workflow-id", workflow_id_for_run(replay)
    )
    assert replayed["workflowExecutionInfo"]["memo"]["fields"]["trigger"] == "replay"


async def test_a_child_run_carries_its_own_search_attributes(services: ServiceContext) -> None:
    await publish_examples(services, "child", "parent")
    parent = await launch_run(services, workflow_id="parent", payload={"n": 1})
    done = await wait_for_run(services, parent)
    assert done.status == "SUCCEEDED", done.error
    [child] = [c.run_id for c in done.children]
    assert (await get_run_detail(services, child)).trigger == "child"

    address = services.endpoints.temporal_address
    tenant = f"RunStudioTenant='{services.tenant}'"
    await finds(address, f"{tenant} AND RunStudioTrigger='child'", {child})
    await finds(address, f"{tenant} AND RunStudioWorkflowId='child' AND RunStudioWorkflowVersion=1", {child})
    await finds(address, f"{tenant} AND RunStudioWorkflowId='parent'", {parent})


@pytest.fixture
async def bare_temporal() -> AsyncIterator[WorkflowEnvironment]:
    """An external Temporal as found in the wild: nobody registered Run Studio's search attributes."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=venv_binary("temporal"), data_converter=TEST_DATA_CONVERTER
    )
    yield env
    await env.shutdown()


async def test_a_namespace_without_the_attributes_is_named_by_doctor_and_refuses_starts_with_the_fix(
    bare_temporal: WorkflowEnvironment, db_pool: asyncpg.Pool, migrated_database_url: str
) -> None:
    ctx = on(bare_temporal, db_pool, migrated_database_url)
    address = ctx.endpoints.temporal_address
    checks = {c.name: c for c in await run_checks(ctx.endpoints, tenant=ctx.tenant)}
    missing = checks["search attributes"]
    assert not missing.ok
    assert "RunStudioTenant (missing)" in missing.detail and "RunStudioWorkflowVersion (missing)" in missing.detail
    assert missing.fix == "; ".join(create_commands("default"))
    assert "temporal operator search-attribute create --namespace default --name RunStudioTrigger --type Keyword" in (
        missing.fix
    )

    # Starting a run is refused, not silently lost: the row is FAILED with the reason and the way out.
    await publish_examples(ctx, "echo_chain")
    with pytest.raises(LaunchFailed) as refused:
        await launch_run(ctx, workflow_id="echo-chain", payload=TICKET)
    assert "runstudio doctor" in str(refused.value) and "search attribute" in str(refused.value)
    row = await get_run_detail(ctx, refused.value.run_id)
    assert row.status == "FAILED"
    assert row.error is not None and row.error["category"] == "StartRefused"
    assert "RunStudio" in row.error["message"] and "runstudio doctor" in row.error["message"]

    # The commands doctor names are the fix: once run, the check passes and runs start.
    for command in create_commands("default"):
        argv = command.split()
        done = await asyncio.to_thread(
            subprocess.run,
            [venv_binary("temporal"), *argv[1:], "--address", address],
            capture_output=True,
            text=True,
            timeout=60,
            env=cli_env(),
        )
        assert done.returncode == 0, done.stderr
    checks = {c.name: c for c in await run_checks(ctx.endpoints, tenant=ctx.tenant)}
    assert checks["search attributes"].ok, checks["search attributes"].detail
    assert checks["search attributes"].detail == "4 registered on default"
    started = await launch_run(ctx, workflow_id="echo-chain", payload=TICKET)
    await finds(address, f"RunStudioTenant='{ctx.tenant}'", {started})


async def test_show_names_the_temporal_workflow_and_its_page_in_the_web_ui(services: ServiceContext) -> None:
    await publish_examples(services, "echo_chain")
    run_id = await launch_run(services, workflow_id="echo-chain", payload=TICKET)
    await wait_for_run(services, run_id)
    base = {
        "RUNSTUDIO_DATABASE_URL": services.endpoints.database_url,
        "TEMPORAL_ADDRESS": services.endpoints.temporal_address,
    }
    page = f"{UI}/namespaces/default/workflows/workflow-runtime-v2%3Arun%3A{run_id}"

    linked = runstudio(
        "--tenant", services.tenant, "show", run_id, "--json", env=cli_env(**base, TEMPORAL_UI_URL=UI + "/")
    )
    assert linked.returncode == 0, linked.stderr
    shown = json.loads(linked.stdout)
    assert shown["temporal_workflow_id"] == f"workflow-runtime-v2:run:{run_id}"
    assert shown["temporal_ui_url"] == page

    text = runstudio("--tenant", services.tenant, "show", run_id, env=cli_env(**base, TEMPORAL_UI_URL=UI))
    assert text.returncode == 0, text.stderr
    assert f"temporal  workflow-runtime-v2:run:{run_id}  {page}" in text.stdout.splitlines()

    unknown = runstudio("--tenant", services.tenant, "show", run_id, "--json", env=cli_env(**base))
    assert unknown.returncode == 0, unknown.stderr
    assert json.loads(unknown.stdout)["temporal_ui_url"] is None
    assert json.loads(unknown.stdout)["temporal_workflow_id"] == f"workflow-runtime-v2:run:{run_id}"

    # The URL goes into a terminal hyperlink escape sequence in the studio, so only http(s) URLs are accepted.
    hostile = runstudio(
        "--tenant", services.tenant, "show", run_id, env=cli_env(**base, TEMPORAL_UI_URL="javascript:x")
    )
    assert hostile.returncode == 1
    [line] = hostile.stderr.splitlines()
    assert line.startswith("error:") and "TEMPORAL_UI_URL" in line and "https?://" in line
