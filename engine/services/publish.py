"""Publishing definitions: validate everything, hash canonically, store an immutable version."""

import getpass
from typing import Any, Literal

from pydantic import BaseModel

from engine.actions.registry import ActionRegistry, default_registry
from engine.dsl.call_graph import ChildCall, Node, child_calls, self_cycles
from engine.dsl.hashing import definition_hash
from engine.dsl.models import ScheduleTrigger
from engine.dsl.validate import validate_definition
from engine.errors import RunStudioError
from engine.inbound import check_json
from engine.services.context import ServiceContext
from engine.services.payloads import PayloadRejected, check_payload
from engine.store import definitions
from engine.store.db import Conn

SyncOutcome = Literal["created", "updated", "deleted", "unchanged"]
"""What a publish did to the workflow's Temporal Schedule."""

LIST_PUBLISHED = "SELECT workflow_id, version FROM workflow_definition_versions WHERE tenant = $1"


class VersionConflict(RunStudioError):
    """That version exists with different content; versions are immutable."""


class Published(BaseModel):
    """The outcome of a publish (``created`` is False when the identical version already existed)."""

    workflow_id: str
    version: int
    definition_hash: str
    created: bool
    warnings: list[str] = []
    """Things worth knowing that do not stop the publish, e.g. a definition that can call itself."""
    schedule: SyncOutcome | None = None
    """What happened to the workflow's Temporal Schedule (None: it never had a schedule trigger, or Temporal
    failed — then a warning says so and the reconciler catches up)."""


async def publish_definition(ctx: ServiceContext, raw: Any, *, registry: ActionRegistry | None = None) -> Published:
    """Validate ``raw`` (raising ``DefinitionInvalid`` with every problem) and store it.

    Re-publishing an identical version is a no-op; a different definition under an existing version
    is refused, because runs are pinned to versions. The whole document passes the inbound JSON rules
    first (``InboundRejected``); ids, names and versions pass theirs in the models (``DefinitionInvalid``).
    """
    check_json(raw, what="definition")
    registry = registry or default_registry()
    published = {(r["workflow_id"], r["version"]) for r in await ctx.pool.fetch(LIST_PUBLISHED, ctx.tenant)}
    own = _own_key(raw)

    def workflow_exists(workflow_id: str, version: int | None) -> bool:
        candidates = published | ({own} if own else set())
        return any(w == workflow_id and (version is None or v == version) for w, v in candidates)

    definition = validate_definition(raw, action_exists=registry.exists, workflow_exists=workflow_exists)
    # The version stores the definition as authored (validated), and its hash is of that document.
    document: dict[str, Any] = raw
    digest = definition_hash(document)
    trigger = definition.trigger
    warnings = await call_cycle_warnings(ctx.pool, ctx.tenant, (definition.id, definition.version), document)
    async with ctx.pool.acquire() as conn:
        created = await definitions.insert_version(
            conn,
            tenant=ctx.tenant,
            workflow_id=definition.id,
            version=definition.version,
            name=definition.name,
            definition=document,
            definition_hash=digest,
            trigger_type=trigger.type,
            trigger_event_name=getattr(trigger, "event_name", None),
            published_by=getpass.getuser(),
        )
        if not created:
            existing = await definitions.get_version(
                conn, tenant=ctx.tenant, workflow_id=definition.id, version=definition.version
            )
            if existing is None or existing.definition_hash != digest:
                raise VersionConflict(
                    f"{definition.id} v{definition.version} is already published with different content; "
                    "versions are immutable, so publish it as a new version"
                )
    # After the version is stored, never before: the schedule follows what is published, and a Temporal
    # outage must not stop a publish (the reconciler creates or deletes the schedule later).
    # Imported here: validating and storing a definition needs no Temporal SDK (the CLI's start-up budget).
    from engine.services.schedules import sync_after_publish

    schedule, schedule_warning = await sync_after_publish(ctx, definition.id)
    if schedule_warning is not None:
        warnings.append(schedule_warning)
    if isinstance(trigger, ScheduleTrigger):
        warnings.extend(_scheduled_payload_warning(document))
    return Published(
        workflow_id=definition.id,
        version=definition.version,
        definition_hash=digest,
        created=created,
        warnings=warnings,
        schedule=schedule,
    )


def _scheduled_payload_warning(document: dict[str, Any]) -> list[str]:
    """A schedule starts runs with the payload ``{}``: warn when the payload schema refuses it."""
    try:
        check_payload(document, {})
    except PayloadRejected as exc:
        return [f"scheduled runs start with the payload {{}}, which this definition refuses ({exc})"]
    return []


MAX_CALL_GRAPH_NODES = 500
"""How many published definitions the self-call check loads at most; a warning is advice, not a proof."""


async def call_cycle_warnings(conn: Conn, tenant: str, start: Node, raw: dict[str, Any]) -> list[str]:
    """The warnings for the ``control.callWorkflow`` steps of ``raw`` that can lead back to itself.

    ``raw`` is about to be published as ``start``; the chain runs through the tenant's published
    definitions, with ``latest`` as it will be after this publish. A warning, not a refusal: a guarded
    recursion is legitimate, and the runtime's child depth limit stops an unguarded one.
    """
    own_id, own_version = start
    own_latest = await definitions.get_version(conn, tenant=tenant, workflow_id=own_id, version=None)
    graph: dict[Node, list[ChildCall]] = {start: child_calls(raw)}
    targets: dict[tuple[str, int | None], Node | None] = {}

    pending = [(call.workflow_id, call.version) for call in graph[start]]
    # Breadth first over the edges, loading each target once; bounded, as the graph is the tenant's to grow.
    while pending and len(graph) < MAX_CALL_GRAPH_NODES:
        workflow_id, version = key = pending.pop(0)
        if key in targets:
            continue
        if workflow_id == own_id and (
            version == own_version or (version is None and (own_latest is None or own_latest.version <= own_version))
        ):
            targets[key] = start
            continue
        found = await definitions.get_version(conn, tenant=tenant, workflow_id=workflow_id, version=version)
        node = targets[key] = None if found is None else (found.workflow_id, found.version)
        if found is not None and node not in graph:
            graph[(found.workflow_id, found.version)] = calls = child_calls(found.definition)
            pending.extend((call.workflow_id, call.version) for call in calls)

    def resolve(workflow_id: str, version: int | None) -> tuple[Node, list[ChildCall]] | None:
        node = targets.get((workflow_id, version))
        return None if node is None or node not in graph else (node, graph[node])

    return self_cycles(start, graph[start], resolve)


def _own_key(raw: Any) -> tuple[str, int] | None:
    """The (id, version) the document claims, if both have the right types (it may call itself)."""
    if not isinstance(raw, dict):
        return None
    workflow_id, version = raw.get("id"), raw.get("version")
    if isinstance(workflow_id, str) and isinstance(version, int) and not isinstance(version, bool):
        return workflow_id, version
    return None
