"""Cancel, one run or many: Temporal first, and the read-model follows only what Temporal accepted.

Nothing here writes ``CANCELED``: the workflow projects its canceled steps, waits and run as it unwinds
(``RunWorkflow._project_cancel``). This module asks Temporal, and once Temporal said yes records the request
on the run (``cancel_requested_at``/``by``, so a cancel no worker has applied yet is visible) and audits it.
A refusal (Temporal unreachable, no open execution, an execution already closed in Temporal) and a repeat
of a pending request record nothing.
"""

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal, get_args

from pydantic import BaseModel, ConfigDict

from engine.errors import ServiceUnavailableError
from engine.inbound import check_actor
from engine.run_status import RunStatus
from engine.services.audit import Actor
from engine.services.context import ServiceContext
from engine.services.runs import RunNotFound, check_run_filters, check_run_ids, get_run, parse_run_id
from engine.services.when import format_when
from engine.store import audit as audit_store
from engine.store import runs
from engine.store.runs import CancelRequest
from engine.temporal import workflow_id_for_run

if TYPE_CHECKING:
    # The SDK is imported where a cancel reaches Temporal: the studio lists runs without loading it.
    from temporalio.client import Client, WorkflowExecutionStatus
    from temporalio.service import RPCError

log = logging.getLogger("runstudio.cancel")

CANCELABLE = frozenset({"RUNNING", "WAITING"})
"""Statuses in which a run can be canceled; every other status is final."""

STATUSES: tuple[str, ...] = get_args(RunStatus)

BULK_CONCURRENCY = 8
"""Cancel requests in flight at once during a bulk cancel: enough to be quick, few enough to be polite."""

_RPC_TIMEOUT = timedelta(seconds=10)
"""A hung Temporal must not hang an operator's terminal: the request is refused after this long."""

_PAGE = 500


class CancelOutcome(BaseModel):
    """What happened to one run when its cancel was asked for."""

    model_config = ConfigDict(defer_build=True)  # built on first use: listing runs never uses it

    run_id: str
    outcome: Literal["canceled", "refused", "not_cancelable", "already_requested"]
    """``canceled``: Temporal accepted; the run shows CANCELED once its workflow has unwound.
    ``refused``: Temporal was unreachable or refused; nothing changed. ``not_cancelable``: the run is over
    (in the read-model, or already closed in Temporal). ``already_requested``: an earlier cancel is on record
    and waits for a worker; nothing new was recorded."""
    reason: str | None = None
    status_before: str | None = None
    """The run's status when the cancel was asked for (None if the run does not exist)."""


class _Unreachable:
    """Temporal could not be reached at all; every run of a batch is refused with the same reason."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


async def cancel_run(ctx: ServiceContext, run_id: str, *, actor: Actor) -> CancelOutcome:
    """Ask Temporal to cancel one RUNNING or WAITING run; record the request only if Temporal accepted it.

    ``RunNotFound`` if the run does not exist for this tenant. A run in any other status is
    ``not_cancelable`` and nothing happens. Canceling a parent cancels its child run through Temporal.
    """
    check_actor(actor.user, actor.source)
    return await _cancel(ctx, run_id, actor=actor, client=await _client_or_reason(ctx))


async def cancel_runs(
    ctx: ServiceContext,
    run_ids: Sequence[str],
    *,
    actor: Actor,
    on_progress: Callable[[int, int], None] | None = None,
) -> list[CancelOutcome]:
    """Cancel each run Temporal-first and return one outcome per run, in the order given.

    One run's failure never stops the others: an unknown run is ``not_cancelable``, an unexpected error
    is reported as ``refused`` with its reason. Duplicate ids are canceled once. At most
    ``BULK_CONCURRENCY`` requests are in flight; ``on_progress(done, total)`` is called after each run.
    """
    check_run_ids(run_ids)  # a non-list or non-text id is refused whole, before any run is touched
    check_actor(actor.user, actor.source)
    unique = list(dict.fromkeys(_canonical(r) for r in run_ids))
    total = len(unique)
    if total == 0:
        return []
    # Connect once: with Temporal down, N runs must not mean N connection timeouts.
    client = await _client_or_reason(ctx)
    gate = asyncio.Semaphore(BULK_CONCURRENCY)
    done = 0

    async def one(run_id: str) -> CancelOutcome:
        nonlocal done
        async with gate:
            try:
                outcome = await _cancel(ctx, run_id, actor=actor, client=client)
            except RunNotFound as exc:
                outcome = CancelOutcome(run_id=run_id, outcome="not_cancelable", reason=str(exc))
            except Exception as exc:
                # Most likely Postgres failing under us. Temporal did not accept a cancel for this run
                # (an acceptance always returns "canceled"), so "refused" is the truth; the batch goes on.
                log.exception("cancel of run %s failed", run_id)
                outcome = CancelOutcome(run_id=run_id, outcome="refused", reason=f"{type(exc).__name__}: {exc}")
        done += 1
        if on_progress is not None:
            on_progress(done, total)
        return outcome

    return list(await asyncio.gather(*(one(r) for r in unique)))


async def select_cancelable(ctx: ServiceContext, *, status: str | None, workflow_id: str | None) -> list[str]:
    """Ids of this tenant's runs matching a filter, newest first, for a bulk cancel.

    Without ``status``: the RUNNING and WAITING runs. With a terminal ``status`` the runs are returned
    all the same, and ``cancel_runs`` reports each as not cancelable, so the operator sees why nothing
    happened. Reads keyset pages, never one unbounded query.
    """
    check_run_filters(status=status, workflow_id=workflow_id)
    if status is not None and status not in STATUSES:
        raise ValueError(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
    statuses = [status] if status is not None else sorted(CANCELABLE)
    found: list[tuple[datetime, str]] = []
    for wanted in statuses:
        after: tuple[datetime, str] | None = None
        while True:
            page = await runs.list_page(
                ctx.pool, tenant=ctx.tenant, status=wanted, workflow_id=workflow_id, after=after, limit=_PAGE
            )
            found.extend((r.started_at, r.run_id) for r in page)
            if len(page) < _PAGE:
                break
            after = (page[-1].started_at, page[-1].run_id)
    found.sort(reverse=True)
    return [run_id for _, run_id in found]


async def _client_or_reason(ctx: ServiceContext) -> "Client | _Unreachable":
    try:
        return await asyncio.wait_for(ctx.temporal(), _RPC_TIMEOUT.total_seconds())
    except ServiceUnavailableError as exc:
        return _Unreachable(exc.summary)
    except TimeoutError:
        return _Unreachable(
            f"cannot reach Temporal at {ctx.endpoints.temporal_address}: no answer within {_RPC_TIMEOUT.seconds} s"
        )
    except Exception as exc:
        return _Unreachable(f"cannot reach Temporal at {ctx.endpoints.temporal_address}: {type(exc).__name__}: {exc}")


async def _cancel(ctx: ServiceContext, run_id: str, *, actor: Actor, client: "Client | _Unreachable") -> CancelOutcome:
    from temporalio.client import WorkflowExecutionStatus
    from temporalio.service import RPCError

    run = await get_run(ctx, run_id)
    before = run.status
    if before not in CANCELABLE:
        return CancelOutcome(
            run_id=run.run_id,
            outcome="not_cancelable",
            reason=f"the run is already {before}; only RUNNING or WAITING runs can be canceled",
            status_before=before,
        )
    if run.cancel_requested_at is not None:
        pending = CancelRequest(requested_at=run.cancel_requested_at, requested_by=run.cancel_requested_by)
        return _already_requested(run.run_id, before, pending)
    if isinstance(client, _Unreachable):
        return CancelOutcome(
            run_id=run.run_id, outcome="refused", reason=f"{client.reason}; nothing was changed", status_before=before
        )
    workflow_id = workflow_id_for_run(run.run_id)
    # No run id: the request goes to the current execution, which after continue-as-new is not the
    # one recorded when the run started.
    handle = client.get_workflow_handle(workflow_id)
    try:
        # Temporal accepts a cancel of a closed execution without complaint, so ask first whether
        # there is anything left to cancel.
        description = await handle.describe(rpc_timeout=_RPC_TIMEOUT)
        if description.status != WorkflowExecutionStatus.RUNNING:
            return _closed_in_temporal(run.run_id, before, workflow_id, description.status)
        await handle.cancel(rpc_timeout=_RPC_TIMEOUT)
    except RPCError as exc:
        return await _refused(ctx, run.run_id, before, _rpc_reason(ctx, workflow_id, exc))
    except Exception as exc:
        reason = f"cannot reach Temporal at {ctx.endpoints.temporal_address}: {type(exc).__name__}: {exc}"
        return await _refused(ctx, run.run_id, before, reason)
    try:
        first = await _record_request(ctx, actor, run.run_id, before, workflow_id)
    except Exception as exc:
        # Temporal has the request and the run will end CANCELED; saying "refused" now would be a lie.
        log.exception("run %s: cancel accepted by Temporal but it could not be recorded", run.run_id)
        return CancelOutcome(
            run_id=run.run_id,
            outcome="canceled",
            reason=f"accepted by Temporal, but the request could not be recorded: {type(exc).__name__}: {exc}",
            status_before=before,
        )
    if first is not None:
        # Another operator's request landed between our read and our write: theirs is the one on record.
        return _already_requested(run.run_id, before, first)
    return CancelOutcome(run_id=run.run_id, outcome="canceled", status_before=before)


async def _record_request(
    ctx: ServiceContext, actor: Actor, run_id: str, before: str, workflow_id: str
) -> CancelRequest | None:
    """Mark the run cancel-requested and audit it, together; the earlier request if one was already on record."""
    async with ctx.pool.acquire() as conn, conn.transaction():
        recorded = await runs.request_cancel(conn, tenant=ctx.tenant, run_id=run_id, requested_by=actor.user)
        if recorded is None:
            return await runs.cancel_request(conn, tenant=ctx.tenant, run_id=run_id)
        await audit_store.record(
            conn,
            tenant=ctx.tenant,
            run_id=run_id,
            action="cancel",
            actor=actor.user,
            source=actor.source,
            details={"statusBefore": before, "temporalWorkflowId": workflow_id},
        )
    return None


def _already_requested(run_id: str, before: str, request: CancelRequest) -> CancelOutcome:
    return CancelOutcome(
        run_id=run_id,
        outcome="already_requested",
        reason=(
            f"a cancel was already requested at {format_when(request.requested_at)} by "
            f"{request.requested_by or 'an unknown user'}; the run ends CANCELED once a worker unwinds it"
        ),
        status_before=before,
    )


def _closed_in_temporal(
    run_id: str, before: str, workflow_id: str, status: "WorkflowExecutionStatus | None"
) -> CancelOutcome:
    name = status.name if status is not None else "closed"
    return CancelOutcome(
        run_id=run_id,
        outcome="not_cancelable",
        reason=(
            f"the execution {workflow_id} is already {name} in Temporal; nothing was changed, and the "
            "reconciler will bring the run in line with Temporal"
        ),
        status_before=before,
    )


def _rpc_reason(ctx: ServiceContext, workflow_id: str, exc: "RPCError") -> str:
    from temporalio.service import RPCStatusCode

    from engine.temporal.outage import temporal_outage

    if exc.status == RPCStatusCode.NOT_FOUND:
        return (
            f"Temporal has no open execution {workflow_id} ({exc.message}); nothing was changed, and the "
            "reconciler will bring the run in line with Temporal"
        )
    if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
        why = temporal_outage(exc) or "no answer before the timeout"
        return f"Temporal at {ctx.endpoints.temporal_address} is unreachable: {why}; nothing was changed"
    return f"Temporal refused the cancel ({exc.status.name}: {exc.message}); nothing was changed"


async def _refused(ctx: ServiceContext, run_id: str, before: str, reason: str) -> CancelOutcome:
    """A refusal, unless the run ended meanwhile: then it simply was not cancelable any more."""
    now = await runs.get(ctx.pool, tenant=ctx.tenant, run_id=run_id)
    if now is not None and now.status not in CANCELABLE:
        return CancelOutcome(
            run_id=run_id,
            outcome="not_cancelable",
            reason=f"the run ended ({now.status}) before the cancel reached Temporal",
            status_before=before,
        )
    return CancelOutcome(run_id=run_id, outcome="refused", reason=reason, status_before=before)


def _canonical(run_id: str) -> str:
    """The canonical form of a run id, so duplicates in any spelling are canceled once."""
    try:
        return parse_run_id(run_id)
    except RunNotFound:
        return run_id
