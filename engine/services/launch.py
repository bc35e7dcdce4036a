"""Starting runs: validate the input, write the run row, hand it to Temporal — or mark it FAILED."""

import uuid
from typing import Any

from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from engine.dsl.hashing import definition_hash
from engine.errors import DOCTOR_HINT, RunStudioError, TemporalUnavailable
from engine.inbound import check_json, check_lookup, check_version
from engine.services.context import ServiceContext
from engine.services.payloads import check_payload
from engine.store import definitions, launch_lock, runs
from engine.store.definitions import DefinitionVersion
from engine.temporal import TASK_QUEUE, WORKFLOW_NAME, workflow_id_for_run
from engine.temporal.client import temporal_unavailable
from engine.temporal.contracts import LoadedRun, RunInput, ensure_transportable
from engine.temporal.memo import plain_memo
from engine.temporal.visibility import SEARCH_ATTRIBUTES, run_memo, run_search_attributes


class WorkflowNotFound(RunStudioError):
    """No such published workflow (or version)."""


class LaunchFailed(RunStudioError):
    """Temporal did not accept the run; it has been marked FAILED with the reason.

    One line either way: "Temporal at ADDR is unreachable; run ID was not started and is marked FAILED
    (reason)" for an outage, "Temporal refused run ID; …" when it answered with an error.
    """

    def __init__(self, run_id: str, reason: str, *, unreachable: TemporalUnavailable | None = None) -> None:
        if unreachable is not None:
            message = (
                f"Temporal at {unreachable.address} is unreachable; run {run_id} was not started and is marked "
                f"FAILED ({unreachable.reason}). {DOCTOR_HINT}"
            )
        else:
            message = f"Temporal refused run {run_id}; it was not started and is marked FAILED ({reason})"
        super().__init__(message)
        self.run_id = run_id
        self.reason = reason


async def launch_run(
    ctx: ServiceContext,
    *,
    workflow_id: str,
    version: int | None = None,
    payload: dict[str, Any],
    trigger: str = "manual",
    trigger_metadata: dict[str, Any] | None = None,
    run_id: str | None = None,
) -> str:
    """Start a run of ``workflow_id`` (latest version by default) and return its run id.

    ``run_id`` makes the start idempotent (the scheduled launcher derives it from its Temporal workflow
    id): a row that already exists is kept, and a workflow Temporal already started counts as started.

    The payload is checked first (JSON object, schema, size): a rejected payload creates nothing. Once
    the row exists the run is either accepted by Temporal or FAILED with the reason — never RUNNING
    with nothing to execute it. The workflow id, version and trigger metadata pass the inbound rules
    (``InboundRejected``) before anything is read.
    """
    # A lookup, not a new name: definitions published before the name rules must stay startable.
    check_lookup(workflow_id, what="workflow id")
    if version is not None:
        check_version(version)
    if trigger_metadata is not None:
        check_json(trigger_metadata, what="trigger metadata")
    pinned = await definitions.get_version(ctx.pool, tenant=ctx.tenant, workflow_id=workflow_id, version=version)
    if pinned is None:
        which = "any version" if version is None else f"version {version}"
        raise WorkflowNotFound(
            f"workflow {workflow_id!r} ({which}) is not published for tenant {ctx.tenant!r}; "
            "see `runstudio definitions`"
        )
    check_payload(pinned.definition, payload)
    given_run_id = run_id is not None
    run_id = run_id if run_id is not None else str(uuid.uuid4())
    # Held from the insert until Temporal answers: the reconciler leaves a run alone while its start is pending.
    async with launch_lock.launching(ctx.pool, run_id) as conn:
        await runs.insert_run(
            conn,
            tenant=ctx.tenant,
            run_id=run_id,
            version=pinned,
            payload=payload,
            trigger=trigger,
            trigger_metadata=trigger_metadata,
            keyring=ctx.keyring,
        )
        try:
            client = await ctx.temporal()
            # Findable with Temporal's own tools: the definition, version, tenant and trigger as typed search
            # attributes (the UI's and `temporal workflow list --query`'s filters) and as a readable memo.
            memo = run_memo(tenant=ctx.tenant, workflow_id=workflow_id, version=pinned.version, trigger=trigger)
            await client.start_workflow(
                WORKFLOW_NAME,
                RunInput(tenant=ctx.tenant, run_id=run_id, loaded=preloaded(pinned, payload)),
                id=workflow_id_for_run(run_id),
                task_queue=TASK_QUEUE,
                memo=plain_memo(memo),
                search_attributes=run_search_attributes(
                    tenant=ctx.tenant, workflow_id=workflow_id, version=pinned.version, trigger=trigger
                ),
            )
        except WorkflowAlreadyStartedError:
            if not given_run_id:
                raise
            # A retried idempotent start: the first attempt's workflow owns this run.
            return run_id
        except Exception as exc:
            unreachable = temporal_unavailable(exc, ctx.endpoints.temporal_address)
            reason = unreachable.summary if unreachable is not None else _refusal(exc)
            await runs.mark_start_failed(
                conn, tenant=ctx.tenant, run_id=run_id, error={"category": "StartRefused", "message": reason}
            )
            raise LaunchFailed(run_id, reason, unreachable=unreachable) from exc
    return run_id


def preloaded(version: DefinitionVersion, payload: dict[str, Any]) -> LoadedRun | None:
    """What the run's ``load_run`` would return, to hand to its start so the workflow skips that local activity.

    None when the workflow must load for itself, so the outcome is the one ``load_run`` gives: the pinned
    definition no longer hashes to its recorded hash (the run fails ``DefinitionMismatch``), or the definition
    and input cannot cross the Temporal boundary (the run fails ``LoadError``, not its start).
    """
    if definition_hash(version.definition) != version.definition_hash:
        return None
    loaded = LoadedRun(
        workflow_id=version.workflow_id,
        workflow_version=version.version,
        definition=version.definition,
        payload=payload,
    )
    try:
        ensure_transportable(loaded)
    except ValueError:
        return None
    return loaded


def _refusal(exc: Exception) -> str:
    # An RPCError's text is Temporal's own message; anything else keeps its type. Either way one line.
    text = exc.message if isinstance(exc, RPCError) else f"{type(exc).__name__}: {exc}"
    text = " ".join(text.split())
    if any(key.name in text for key in SEARCH_ATTRIBUTES):
        # An external Temporal without the run search attributes refuses every start; say how to fix it.
        text += (
            "; the namespace lacks Run Studio's search attributes: `runstudio doctor` names the "
            "`temporal operator search-attribute create` commands that register them"
        )
    return text
