"""Starting runs: validate the input, write the run row, hand it to Temporal — or mark it FAILED."""

import uuid
from typing import Any

from engine.errors import RunStudioError
from engine.services.context import ServiceContext
from engine.services.payloads import check_payload
from engine.store import definitions, runs
from engine.temporal import TASK_QUEUE, WORKFLOW_NAME, workflow_id_for_run
from engine.temporal.contracts import RunInput


class WorkflowNotFound(RunStudioError):
    """No such published workflow (or version)."""


class LaunchFailed(RunStudioError):
    """Temporal did not accept the run; it has been marked FAILED with the reason."""

    def __init__(self, run_id: str, reason: str) -> None:
        super().__init__(f"run {run_id} could not be started on Temporal: {reason}. It is marked FAILED.")
        self.run_id = run_id


async def launch_run(
    ctx: ServiceContext,
    *,
    workflow_id: str,
    version: int | None = None,
    payload: dict[str, Any],
    trigger: str = "manual",
    trigger_metadata: dict[str, Any] | None = None,
) -> str:
    """Start a run of ``workflow_id`` (latest version by default) and return its run id.

    The payload is checked first (JSON object, schema, size): a rejected payload creates nothing. Once
    the row exists the run is either accepted by Temporal or FAILED with the reason — never RUNNING
    with nothing to execute it.
    """
    pinned = await definitions.get_version(ctx.pool, tenant=ctx.tenant, workflow_id=workflow_id, version=version)
    if pinned is None:
        which = "any version" if version is None else f"version {version}"
        raise WorkflowNotFound(
            f"workflow {workflow_id!r} ({which}) is not published for tenant {ctx.tenant!r}; "
            "see `runstudio definitions`"
        )
    check_payload(pinned.definition, payload)
    run_id = str(uuid.uuid4())
    await runs.insert_run(
        ctx.pool,
        tenant=ctx.tenant,
        run_id=run_id,
        version=pinned,
        payload=payload,
        trigger=trigger,
        trigger_metadata=trigger_metadata,
    )
    try:
        client = await ctx.temporal()
        await client.start_workflow(
            WORKFLOW_NAME,
            RunInput(tenant=ctx.tenant, run_id=run_id),
            id=workflow_id_for_run(run_id),
            task_queue=TASK_QUEUE,
        )
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"
        await runs.mark_start_failed(
            ctx.pool, tenant=ctx.tenant, run_id=run_id, error={"category": "StartRefused", "message": reason}
        )
        raise LaunchFailed(run_id, reason) from exc
    return run_id
