"""Schedules on Temporal Schedules, on the real dev server: publish, trigger, pause, delete, list, reconcile.

No test waits for a cron minute: ``schedule trigger`` takes one action now, through the same launcher.
"""

import asyncio
import contextlib
import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, ScheduleOverlapPolicy
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError

from engine.dsl.models import ScheduleTrigger
from engine.services.context import ServiceContext
from engine.services.publish import publish_definition
from engine.services.runs import list_runs
from engine.services.schedule_reconcile import reconcile_schedules
from engine.services.scheduled_launch import launch_scheduled_run, scheduled_run_id
from engine.services.schedules import list_schedules
from engine.stack import Endpoints
from engine.store import runs
from engine.temporal import schedules as temporal_schedules
from engine.temporal import workflow_id_for_run
from engine.temporal.contracts import LaunchScheduledRequest, RunResult, ScheduledLaunch
from tests.conftest import services_env, venv_binary
from tests.helpers import wait_for_run, wait_until

# The schedules command module is registered by runstudio.commands.COMMAND_MODULES once wired; until then the
# test entry point registers it itself (never twice).
_CLI = (
    "from runstudio.cli import app, main\n"
    "from runstudio.commands import COMMAND_MODULES, schedules\n"
    "if 'schedules' not in COMMAND_MODULES: schedules.register(app)\n"
    "main()"
)


async def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``runstudio ARGS`` in a subprocess, with the schedules commands available.

    Run from a thread: the session's worker shares this event loop, and ``schedule trigger`` waits for it.
    """
    command = [sys.executable, "-c", _CLI, *args]
    return await asyncio.to_thread(subprocess.run, command, env=env, capture_output=True, text=True, timeout=120)


def definition(workflow_id: str, version: int, trigger: dict[str, Any] | None) -> dict[str, Any]:
    """A one-step definition that needs no payload, with ``trigger`` (manual when None)."""
    document: dict[str, Any] = {
        "id": workflow_id,
        "version": version,
        "name": f"Scheduled {workflow_id}",
        "steps": [{"id": "mark", "type": "state.assign", "assign": {"vars.ran": True}}],
    }
    if trigger is not None:
        document["trigger"] = trigger
    return document


EVERY_MINUTE = {"type": "schedule", "cron": "* * * * *"}
YEARLY = {"type": "schedule", "cron": "0 0 1 1 *"}
"""For tests that count runs: a cron minute passing mid-test must not add one."""


@pytest.fixture
def env(services: ServiceContext) -> dict[str, str]:
    return services_env(services)


@pytest.fixture
async def tenant_schedules(services: ServiceContext) -> AsyncIterator[ServiceContext]:
    """The services of a fresh tenant; every schedule the test made is deleted after it (the server is shared)."""
    yield services
    client = await services.temporal()
    # By the tenant's definitions (Temporal's list may not show a schedule created a moment ago), then the list.
    for workflow_id in await services.pool.fetch(
        "SELECT workflow_id FROM workflow_definitions WHERE tenant = $1", services.tenant
    ):
        await temporal_schedules.delete_schedule(client, services.tenant, workflow_id["workflow_id"])
    for sid in await temporal_schedules.list_schedule_ids(client):
        if sid.startswith(temporal_schedules.schedule_id(services.tenant, "")):
            with contextlib.suppress(RPCError):  # already deleted above; the list trails
                await client.get_schedule_handle(sid).delete()


async def test_publish_creates_the_schedule_and_trigger_starts_a_run_through_the_launcher(
    tenant_schedules: ServiceContext, env: dict[str, str]
) -> None:
    services = tenant_schedules
    trigger = {**EVERY_MINUTE, "timezone": "Europe/Paris", "jitterMs": 1000}
    published = await publish_definition(services, definition("nightly", 1, trigger))
    assert published.schedule == "created"
    client = await services.temporal()
    description = await client.get_schedule_handle(f"runstudio:schedule:{services.tenant}:nightly").describe()
    assert description.schedule.spec.time_zone_name == "Europe/Paris"
    assert description.schedule.policy.catchup_window == timedelta(minutes=5)
    assert description.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
    assert len(description.info.next_action_times) >= 2

    result = await cli("--tenant", services.tenant, "schedule", "trigger", "nightly", "--json", env=env)
    assert result.returncode == 0, result.stderr
    triggered = json.loads(result.stdout)
    run_id = triggered["run_id"]
    assert run_id is not None and triggered["paused"] is False

    detail = await wait_for_run(services, run_id)
    assert detail.status == "SUCCEEDED"
    row = await runs.get(services.pool, tenant=services.tenant, run_id=run_id)
    assert row is not None and row.trigger == "schedule" and row.workflow_version == 1
    metadata = row.trigger_metadata
    assert metadata["scheduleId"] == f"runstudio:schedule:{services.tenant}:nightly"
    launcher_id = metadata["temporalWorkflowId"]
    assert launcher_id.startswith(metadata["scheduleId"]) and scheduled_run_id(launcher_id) == run_id
    assert datetime.fromisoformat(metadata["nominalTime"]).tzinfo is not None

    # The launcher is findable as a launcher, but a query by workflow id finds only runs: it carries no
    # RunStudioWorkflowId; the run it started carries the run's own attributes with trigger "schedule".
    launcher = await client.get_workflow_handle(launcher_id).describe()
    attributes = launcher.typed_search_attributes
    assert attributes.get(SearchAttributeKey.for_keyword("RunStudioTrigger")) == "schedule-launcher"
    assert attributes.get(SearchAttributeKey.for_keyword("RunStudioWorkflowId")) is None
    assert (await launcher.memo())["trigger"] == "schedule-launcher"
    launched_run = await client.get_workflow_handle(workflow_id_for_run(run_id)).describe()
    run_attributes = launched_run.typed_search_attributes
    assert run_attributes.get(SearchAttributeKey.for_keyword("RunStudioTrigger")) == "schedule"
    assert run_attributes.get(SearchAttributeKey.for_keyword("RunStudioWorkflowId")) == "nightly"
    launched = await client.get_workflow_handle(launcher_id, result_type=RunResult).result()
    assert launched.output == {"runId": run_id}

    # The runs list filters it by trigger (a cron minute may have passed and added one more, of the same kind),
    # and `schedules` names the newest as the last run.
    listed = await list_runs(services, trigger="schedule")
    assert run_id in [r.run_id for r in listed] and {r.trigger for r in listed} == {"schedule"}
    assert run_id not in [r.run_id for r in await list_runs(services, trigger="manual")]
    [shown] = await list_schedules(services)
    assert (shown.last_run_id, shown.cron, shown.state) == (listed[0].run_id, "* * * * *", "active")
    assert shown.last_action_time is not None


async def test_the_launcher_activity_is_idempotent(tenant_schedules: ServiceContext) -> None:
    services = tenant_schedules
    await publish_definition(services, definition("retried", 1, YEARLY))
    sid = temporal_schedules.schedule_id(services.tenant, "retried")
    request = LaunchScheduledRequest(
        tenant=services.tenant,
        launch=ScheduledLaunch(workflow_id="retried", version=1, schedule_id=sid, cron="* * * * *"),
        launcher_workflow_id=f"{sid}-2026-12-01T10:00:00Z",
        nominal_time=datetime(2026, 12, 1, 10, tzinfo=UTC),
    )
    client = await services.temporal()
    first = await launch_scheduled_run(services.pool, client, request, keyring=services.keyring)
    second = await launch_scheduled_run(services.pool, client, request, keyring=services.keyring)  # a retry
    assert first == second == scheduled_run_id(request.launcher_workflow_id)
    detail = await wait_for_run(services, first)
    assert detail.status == "SUCCEEDED"
    count = await services.pool.fetchval(
        "SELECT count(*) FROM workflow_runs WHERE tenant = $1 AND workflow_id = 'retried'", services.tenant
    )
    assert count == 1
    row = await runs.get(services.pool, tenant=services.tenant, run_id=first)
    assert row is not None and row.trigger_metadata["nominalTime"] == "2026-12-01T10:00:00+00:00"


async def test_pause_is_seen_by_temporal_and_the_cli_and_a_manual_trigger_still_runs(
    tenant_schedules: ServiceContext, env: dict[str, str]
) -> None:
    services = tenant_schedules
    await publish_definition(services, definition("paused-one", 1, EVERY_MINUTE))
    result = await cli(
        "--tenant", services.tenant, "schedule", "pause", "paused-one", "--note", "maintenance", "--json", env=env
    )
    assert result.returncode == 0, result.stderr
    row = json.loads(result.stdout)
    assert (row["paused"], row["state"], row["note"]) == (True, "paused", "maintenance")
    client = await services.temporal()
    description = await client.get_schedule_handle(row["schedule_id"]).describe()
    assert description.schedule.state.paused is True
    assert description.schedule.state.note == "maintenance"

    text = await cli("--tenant", services.tenant, "schedules", env=env)
    assert text.returncode == 0 and "paused: maintenance" in text.stdout
    # Temporal still computes the cron's times while paused; the table does not present them as due.
    [line] = [line for line in text.stdout.splitlines() if "paused-one" in line]
    assert "(paused)" in line

    triggered = await cli("--tenant", services.tenant, "schedule", "trigger", "paused-one", env=env)
    assert triggered.returncode == 0, triggered.stderr
    assert "paused" in triggered.stderr and "run " in triggered.stdout

    resumed = await cli("--tenant", services.tenant, "schedule", "unpause", "paused-one", "--json", env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["state"] == "active"
    assert (await client.get_schedule_handle(row["schedule_id"]).describe()).schedule.state.paused is False


async def test_invalid_cron_is_refused_at_publish_with_its_path(
    tenant_schedules: ServiceContext, env: dict[str, str], tmp_path: Path
) -> None:
    services = tenant_schedules
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(definition("tuesdays", 1, {"type": "schedule", "cron": "every tuesday"})))
    result = await cli("--tenant", services.tenant, "publish", str(bad), env=env)
    assert result.returncode == 1
    assert "$.trigger.cron: 'every tuesday' is not a cron expression" in result.stderr
    count = await services.pool.fetchval("SELECT count(*) FROM workflow_definitions WHERE tenant = $1", services.tenant)
    assert count == 0
    missing = await cli("--tenant", services.tenant, "schedule", "pause", "tuesdays", env=env)
    assert missing.returncode == 1 and missing.stderr.startswith("error: workflow 'tuesdays' has no schedule")
    # Fixed, the same publish says what it did to the schedule.
    bad.write_text(json.dumps(definition("tuesdays", 1, {"type": "schedule", "cron": "0 9 * * tue"})))
    fixed = await cli("--tenant", services.tenant, "publish", str(bad), env=env)
    assert fixed.returncode == 0, fixed.stderr
    assert json.loads(fixed.stdout)["schedule"] == "created"


async def test_a_later_version_without_the_trigger_deletes_the_schedule(tenant_schedules: ServiceContext) -> None:
    services = tenant_schedules
    client = await services.temporal()
    assert (await publish_definition(services, definition("retiring", 1, EVERY_MINUTE))).schedule == "created"
    changed = await publish_definition(services, definition("retiring", 2, {"type": "schedule", "cron": "@hourly"}))
    assert changed.schedule == "updated"
    view = await temporal_schedules.describe(client, services.tenant, "retiring")
    assert view is not None and (view.version, view.cron) == (2, "@hourly")

    retired = await publish_definition(services, definition("retiring", 3, None))
    assert retired.schedule == "deleted"
    assert await temporal_schedules.describe(client, services.tenant, "retiring") is None
    assert await list_schedules(services) == []


async def test_temporal_schedule_list_shows_what_runstudio_schedules_shows(
    tenant_schedules: ServiceContext, env: dict[str, str]
) -> None:
    services = tenant_schedules
    await publish_definition(services, definition("listed-a", 1, EVERY_MINUTE))
    await publish_definition(services, definition("listed-b", 1, {"type": "schedule", "cron": "0 9 * * mon-fri"}))
    paused = await cli("--tenant", services.tenant, "schedule", "pause", "listed-b", "--note", "holiday", env=env)
    assert paused.returncode == 0, paused.stderr

    listed = await cli("--tenant", services.tenant, "schedules", "--json", env=env)
    ours = json.loads(listed.stdout)
    prefix = temporal_schedules.schedule_id(services.tenant, "")

    async def temporal_listing() -> dict[str, Any] | None:
        listing = await asyncio.to_thread(
            subprocess.run,
            [
                venv_binary("temporal"),
                "schedule",
                "list",
                "--address",
                services.endpoints.temporal_address,
                "-o",
                "json",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        found = {
            entry["scheduleId"]: entry for entry in json.loads(listing.stdout) if entry["scheduleId"].startswith(prefix)
        }
        # Temporal's list reads its visibility store, which may trail the create by a moment.
        return found if len(found) == 2 and found[f"{prefix}listed-b"]["info"].get("paused") else None

    theirs = await wait_until(temporal_listing, what="both schedules in `temporal schedule list`")
    assert sorted(theirs) == sorted(row["schedule_id"] for row in ours)
    for row in ours:
        info = theirs[row["schedule_id"]]["info"]
        assert bool(info.get("paused")) == row["paused"]
        assert info.get("notes") == row["note"]
        assert info["workflowType"]["name"] == "workflow-runtime-v2"
        listed_next = [datetime.fromisoformat(t) for t in info.get("futureActionTimes", [])]
        ours_next = [datetime.fromisoformat(t) for t in row["next_action_times"]]
        # Both come from the schedule; a list entry can be a refresh older than the describe behind ours.
        assert listed_next[:1] == ours_next[:1] or (not listed_next and not ours_next)
        memo = theirs[row["schedule_id"]]["memo"]["fields"]
        assert json.loads(_payload_data(memo["workflowId"])) == row["workflow_id"]


def _payload_data(payload: dict[str, Any]) -> str:
    import base64

    return base64.b64decode(payload["data"]).decode()


async def test_the_reconciler_recreates_a_deleted_schedule_and_deletes_an_orphan(
    tenant_schedules: ServiceContext,
) -> None:
    services = tenant_schedules
    client: Client = await services.temporal()
    await publish_definition(services, definition("kept", 1, EVERY_MINUTE))
    await publish_definition(services, definition("orphaned", 1, None))
    kept = temporal_schedules.schedule_id(services.tenant, "kept")
    orphan = temporal_schedules.schedule_id(services.tenant, "orphaned")
    await client.get_schedule_handle(kept).delete()  # deleted behind our back, with Temporal's own tools
    # A schedule for a definition whose latest version is manual (as if its deletion had failed at publish).
    trigger = ScheduleTrigger.model_validate(EVERY_MINUTE)
    await temporal_schedules.ensure_schedule(client, services.tenant, "orphaned", 1, trigger)

    async def pass_with_orphan_deleted() -> Any:
        result = await reconcile_schedules(services.pool, client, tenant=services.tenant)
        assert kept not in result.failed and orphan not in result.failed
        return result if orphan in result.deleted else None

    first = await reconcile_schedules(services.pool, client, tenant=services.tenant)
    assert kept in first.created
    view = await temporal_schedules.describe(client, services.tenant, "kept")
    assert view is not None and view.cron == "* * * * *" and view.version == 1
    # The orphan is found through Temporal's visibility listing, which may trail the create by a moment.
    if orphan not in first.deleted:
        await wait_until(pass_with_orphan_deleted, what="the orphan schedule deleted")
    assert await temporal_schedules.describe(client, services.tenant, "orphaned") is None
    again = await reconcile_schedules(services.pool, client, tenant=services.tenant)
    assert kept not in again.created + again.updated


@pytest.mark.parametrize(
    "cron",
    [
        *("* * * * *", "*/15 0-6 1,15 jan-jun 7", "0 9 * * mon-fri", "5/10 * * * 0", "30 2 * DEC SUN-SAT"),
        *("@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually"),
    ],
)
async def test_temporal_accepts_every_cron_form_publish_accepts(services: ServiceContext, cron: str) -> None:
    from engine.dsl.cron import cron_problem

    assert cron_problem(cron) is None
    client = await services.temporal()
    workflow_id = f"cron-{uuid.uuid4().hex[:8]}"
    trigger = ScheduleTrigger.model_validate({"type": "schedule", "cron": cron, "timezone": "America/New_York"})
    assert await temporal_schedules.ensure_schedule(client, services.tenant, workflow_id, 1, trigger) == "created"
    try:
        view = await temporal_schedules.describe(client, services.tenant, workflow_id)
        assert view is not None and view.cron == cron and view.timezone == "America/New_York"
        assert view.next_action_times, f"Temporal computes no action time for {cron!r}"
    finally:
        assert await temporal_schedules.delete_schedule(client, services.tenant, workflow_id)


async def test_publish_while_temporal_is_unreachable_publishes_and_the_reconciler_creates_the_schedule(
    tenant_schedules: ServiceContext,
) -> None:
    services = tenant_schedules
    down = ServiceContext(
        pool=services.pool,
        endpoints=Endpoints(services.endpoints.database_url, "127.0.0.1:1", "default"),
        tenant=services.tenant,
    )
    published = await publish_definition(down, definition("offline", 1, EVERY_MINUTE))
    assert published.created and published.schedule is None
    [warning] = published.warnings
    assert "the schedule of offline is not updated in Temporal yet" in warning
    assert "127.0.0.1:1" in warning and "reconciler" in warning
    client = await services.temporal()
    assert await temporal_schedules.describe(client, services.tenant, "offline") is None
    [row] = await list_schedules(services)
    assert (row.workflow_id, row.state) == ("offline", "missing")

    result = await reconcile_schedules(services.pool, client, tenant=services.tenant)
    assert temporal_schedules.schedule_id(services.tenant, "offline") in result.created
    [row] = await list_schedules(services)
    assert (row.state, row.cron) == ("active", "* * * * *")
