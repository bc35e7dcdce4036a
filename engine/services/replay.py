"""Replay: start a new run of the same definition version from a run's input.

Without a payload the original, unredacted input is used, so nothing the operator saw redacted is ever
needed. With an edited payload, every placeholder left unchanged at a redacted location gets its
original secret back before the payload is validated and sent.

The original is stored sealed (``workflow_runs.input_json``); it is opened here, server-side, with the
services' keyring and goes only into the new run's insert (sealed again) and its Temporal start.
"""

from typing import Any

from pydantic import BaseModel

from engine.diff.secrets import replaced_secret_paths
from engine.errors import RunStudioError
from engine.inbound import InboundRejected, check_actor, check_json
from engine.redaction import restore_placeholders
from engine.services import audit
from engine.services.audit import Actor
from engine.services.context import ServiceContext
from engine.services.launch import LaunchFailed, launch_run
from engine.services.payloads import PayloadRejected
from engine.services.runs import get_run
from engine.store import definitions, runs
from engine.store.definitions import DefinitionVersion
from engine.store.runs import RunRow


class ReplayNotPossible(RunStudioError):
    """The run cannot be replayed (its definition version is gone)."""


async def replay_run(ctx: ServiceContext, run_id: str, *, payload: dict[str, Any] | None, actor: Actor) -> str:
    """Start the replay and return the new run's id (its trigger is ``replay`` with ``replayOfRunId``).

    An edited payload passes the inbound rules (``PayloadRejected`` naming the path and the rule) before
    the run is even read, so a hostile payload writes nothing.
    """
    check_actor(actor.user, actor.source)
    source = await replay_source(ctx, run_id, payload=payload)
    run, edited, replaced = source.run, source.edited, source.secrets_replaced
    try:
        new_run_id = await launch_run(
            ctx,
            workflow_id=run.workflow_id,
            version=run.workflow_version,
            payload=source.payload,
            trigger="replay",
            trigger_metadata={"replayOfRunId": run.run_id, "edited": edited},
        )
    except LaunchFailed as exc:
        # The new run exists (FAILED with the reason); the attempt belongs in the trail too.
        await audit.record(
            ctx,
            actor,
            run_id=run.run_id,
            action="replay",
            newRunId=exc.run_id,
            edited=edited,
            started=False,
            secretsReplaced=replaced,
        )
        raise
    await audit.record(
        ctx,
        actor,
        run_id=run.run_id,
        action="replay",
        newRunId=new_run_id,
        edited=edited,
        started=True,
        secretsReplaced=replaced,
    )
    return new_run_id


class ReplaySource(BaseModel):
    """What a replay of a run would start from: the run, its pinned definition and the payload to send."""

    run: RunRow
    version: DefinitionVersion
    payload: dict[str, Any]
    """The original input (unedited), or the edited payload with its placeholders restored; never shown."""
    edited: bool
    secrets_replaced: list[str] = []
    """Paths of the secrets the edit overwrote (never values): a diff of the two runs cannot see behind
    placeholders, so the replay's audit entry records them."""


async def replay_source(ctx: ServiceContext, run_id: str, *, payload: dict[str, Any] | None) -> ReplaySource:
    """The payload a replay of ``run_id`` would send, checked as :func:`replay_run` checks it; starts nothing.

    The replay preview reads the original input only through this function, so the one place that knows
    how the original is stored is here. Raises ``PayloadRejected`` and ``ReplayNotPossible`` as
    ``replay_run`` does.
    """
    if payload is not None:
        if not isinstance(payload, dict):
            raise PayloadRejected([f"payload must be a JSON object, got {type(payload).__name__}"])
        try:
            check_json(payload, what="payload")
        except InboundRejected as exc:
            raise PayloadRejected([str(exc)]) from None
    run = await get_run(ctx, run_id)
    version = await definitions.get_version(
        ctx.pool, tenant=ctx.tenant, workflow_id=run.workflow_id, version=run.workflow_version
    )
    if version is None:
        raise ReplayNotPossible(
            f"run {run.run_id} used {run.workflow_id} v{run.workflow_version}, which no longer exists; "
            "start a new run of a published version instead"
        )
    original = await _original_input(ctx, run)
    if payload is None:
        return ReplaySource(run=run, version=version, payload=original, edited=False)
    redact = version.definition.get("redact", [])
    restored, problems = restore_placeholders(payload, original, redact)
    if problems:
        raise PayloadRejected(problems)
    replaced = replaced_secret_paths(payload, original, redact)
    return ReplaySource(run=run, version=version, payload=restored, edited=True, secrets_replaced=replaced)


async def _original_input(ctx: ServiceContext, run: RunRow) -> dict[str, Any]:
    """The run's original input, opened from its sealed column (``run.input`` is only the redacted copy)."""
    original = await runs.original_input(ctx.pool, tenant=ctx.tenant, run_id=run.run_id, keyring=ctx.keyring)
    return original if original is not None else run.input
