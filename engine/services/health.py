"""Why is a run stuck? Asked of Temporal, as precisely as it can tell (SPEC §8)."""

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel
from temporalio.api.enums.v1 import EventType
from temporalio.api.failure.v1 import Failure
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.converter import DataConverter
from temporalio.service import RPCError, RPCStatusCode

from engine.errors import RunStudioError, ServiceUnavailableError
from engine.services.context import ServiceContext
from engine.services.runs import get_run, is_stuck
from engine.temporal import TASK_QUEUE, workflow_id_for_run
from engine.temporal.client import POLLER_FRESHNESS, temporal_unavailable, workflow_pollers

StuckCause = Literal["no_pollers", "no_execution", "workflow_task_failing", "not_started", "temporal_unreachable"]


class StuckDiagnosis(BaseModel):
    """The most precise explanation available for a stuck run."""

    cause: StuckCause
    message: str


class WorkerPresence(BaseModel):
    """Who polls the task queue now, as Temporal tells it (SPEC §8: the header's worker count)."""

    polling: int
    """Workers seen polling within ``POLLER_FRESHNESS``: the ones that can run a step now."""
    gone: int
    """Workers Temporal still lists that have not polled for longer (killed or stopped: it forgets them late)."""
    last_seen: datetime | None
    """The most recent poll of any listed worker; ``None`` when Temporal lists none."""


async def worker_presence(ctx: ServiceContext, *, now: datetime | None = None) -> WorkerPresence:
    """The workers polling ``TASK_QUEUE`` now, on the context's Temporal client (no new connection per call).

    ``now`` defaults to the real clock, not ``ctx.clock``: it is compared with Temporal's own timestamps.
    Raises ``ServiceUnavailableError`` (or the SDK's ``RPCError``) when Temporal cannot be asked.
    """
    client = await ctx.temporal()
    listed = await workflow_pollers(client, seen_within=None)
    cutoff = (now or datetime.now(UTC)) - POLLER_FRESHNESS
    polling = sum(1 for p in listed if p.last_access is None or p.last_access >= cutoff)
    seen = [p.last_access for p in listed if p.last_access is not None]
    return WorkerPresence(polling=polling, gone=len(listed) - polling, last_seen=max(seen, default=None))


async def diagnose(ctx: ServiceContext, run_id: str) -> StuckDiagnosis | None:
    """Why the run is stuck, or None when it is not stuck."""
    run = await get_run(ctx, run_id)
    if not is_stuck(run, ctx.clock()):
        return None
    try:
        client = await ctx.temporal()
        pollers = await workflow_pollers(client)
    except (ServiceUnavailableError, RPCError) as exc:
        outage = temporal_unavailable(exc, ctx.endpoints.temporal_address)
        why = outage.summary if outage is not None else f"{type(exc).__name__}: {exc}"
        return StuckDiagnosis(
            cause="temporal_unreachable", message=f"Temporal cannot be asked why ({why}); check `runstudio doctor`."
        )
    workflow_id = workflow_id_for_run(run.run_id)
    handle = client.get_workflow_handle(workflow_id)
    try:
        description = await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return StuckDiagnosis(
                cause="no_execution",
                message=f"Temporal has no execution {workflow_id}: the run was never handed to Temporal or its "
                "history is gone. Cancel is not possible; replay it to run it again.",
            )
        outage = temporal_unavailable(exc, ctx.endpoints.temporal_address)
        why = outage.summary if outage is not None else exc.message
        return StuckDiagnosis(cause="temporal_unreachable", message=f"Temporal could not describe the run: {why}")
    if not pollers:
        return StuckDiagnosis(
            cause="no_pollers",
            message=f"No worker polls task queue {TASK_QUEUE}. Start one with `runstudio worker`.",
        )
    pending = description.raw_description.pending_workflow_task
    if description.status == WorkflowExecutionStatus.RUNNING and pending.attempt > 1:
        failure = await _last_workflow_task_failure(handle, client.data_converter)
        return StuckDiagnosis(
            cause="workflow_task_failing",
            message=f"The run's workflow task has failed {pending.attempt - 1} time(s) and is retrying"
            + (f"; last failure: {failure}" if failure else "")
            + ". A worker may run code that does not match this run's history (non-determinism).",
        )
    return StuckDiagnosis(
        cause="not_started",
        message=f"{len(pollers)} worker(s) poll {TASK_QUEUE}, but the run has not started a step yet; "
        "the workers may be saturated.",
    )


async def _last_workflow_task_failure(handle: WorkflowHandle[Any, Any], converter: DataConverter) -> str | None:
    failure: Failure | None = None
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            failure = event.workflow_task_failed_event_attributes.failure
    if failure is None:
        return None
    # The payload codec encrypts failure messages too (the history says "Encoded failure"): decode to read it.
    try:
        return str(await converter.decode_failure(failure))
    except RunStudioError as exc:
        return f"{failure.message} ({exc})"
