"""Starting the run of one schedule action: the launcher activity's body, idempotent across retries.

A Temporal Schedule starts the one workflow type in launcher mode (``RunInput.scheduled``); that
workflow calls this once per action, and this starts an ordinary run through :func:`launch_run` — the
run row first, trigger ``schedule``, never RUNNING for nobody. The run id is a uuid5 of the launcher's
Temporal workflow id, which Temporal makes unique per action, so a retried activity finds the run it
already created instead of starting a second one.
"""

import uuid
from typing import Any, Final

import asyncpg
from temporalio.client import Client

from engine.keyring import Keyring
from engine.services.context import ServiceContext
from engine.services.launch import LaunchFailed, launch_run
from engine.stack import Endpoints
from engine.temporal.contracts import LaunchScheduledRequest

SCHEDULED_LAUNCH_REFUSED: Final = "ScheduledLaunchRefused"
"""The activity's failure category when the run can never be started (no such version, payload refused)."""

_RUN_ID_NAMESPACE: Final = uuid.UUID("7b0f3b8e-4a7e-5d0c-9a55-2f0c6f1de3a1")
"""The uuid5 namespace of scheduled run ids (fixed forever: changing it would break retry idempotency)."""


def scheduled_run_id(launcher_workflow_id: str) -> str:
    """The run id of the action whose launcher has ``launcher_workflow_id`` (the same on every retry)."""
    return str(uuid.uuid5(_RUN_ID_NAMESPACE, launcher_workflow_id))


def trigger_metadata(request: LaunchScheduledRequest) -> dict[str, Any]:
    """What a scheduled run's row records about the action that started it."""
    return {
        "scheduleId": request.launch.schedule_id,
        "nominalTime": None if request.nominal_time is None else request.nominal_time.isoformat(),
        "temporalWorkflowId": request.launcher_workflow_id,
    }


async def launch_scheduled_run(
    pool: asyncpg.Pool, client: Client, request: LaunchScheduledRequest, *, keyring: Keyring
) -> str:
    """Start (or find, on a retry) the run of one schedule action and return its run id.

    A run Temporal refused is already FAILED with the reason by the launcher: that is this action's
    outcome, so it is returned rather than retried into a second start of a FAILED row. Anything else
    raises: an outage is retried by Temporal; a definition or payload that can never start ends the
    launcher (see :data:`SCHEDULED_LAUNCH_REFUSED`).
    """
    endpoints = Endpoints(
        database_url="", temporal_address=client.service_client.config.target_host, temporal_namespace=client.namespace
    )
    ctx = ServiceContext(pool=pool, endpoints=endpoints, tenant=request.tenant, _client=client, keyring=keyring)
    run_id = scheduled_run_id(request.launcher_workflow_id)
    try:
        return await launch_run(
            ctx,
            workflow_id=request.launch.workflow_id,
            version=request.launch.version,
            payload={},
            trigger="schedule",
            trigger_metadata=trigger_metadata(request),
            run_id=run_id,
        )
    except LaunchFailed as exc:
        return exc.run_id
