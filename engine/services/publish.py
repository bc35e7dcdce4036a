"""Publishing definitions: validate everything, hash canonically, store an immutable version."""

import getpass
from typing import Any

from pydantic import BaseModel

from engine.actions.registry import ActionRegistry, default_registry
from engine.dsl.hashing import definition_hash
from engine.dsl.validate import validate_definition
from engine.errors import RunStudioError
from engine.services.context import ServiceContext
from engine.store import definitions

LIST_PUBLISHED = "SELECT workflow_id, version FROM workflow_definition_versions WHERE tenant = $1"


class VersionConflict(RunStudioError):
    """That version exists with different content; versions are immutable."""


class Published(BaseModel):
    """The outcome of a publish (``created`` is False when the identical version already existed)."""

    workflow_id: str
    version: int
    definition_hash: str
    created: bool


async def publish_definition(ctx: ServiceContext, raw: Any, *, registry: ActionRegistry | None = None) -> Published:
    """Validate ``raw`` (raising ``DefinitionInvalid`` with every problem) and store it.

    Re-publishing an identical version is a no-op; a different definition under an existing version
    is refused, because runs are pinned to versions.
    """
    registry = registry or default_registry()
    published = {(r["workflow_id"], r["version"]) for r in await ctx.pool.fetch(LIST_PUBLISHED, ctx.tenant)}
    own = (raw.get("id"), raw.get("version")) if isinstance(raw, dict) else None

    def workflow_exists(workflow_id: str, version: int | None) -> bool:
        candidates = published | ({own} if own else set())
        return any(w == workflow_id and (version is None or v == version) for w, v in candidates)

    definition = validate_definition(raw, action_exists=registry.exists, workflow_exists=workflow_exists)
    # The version stores the definition as authored (validated), and its hash is of that document.
    document: dict[str, Any] = raw
    digest = definition_hash(document)
    trigger = definition.trigger
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
    return Published(workflow_id=definition.id, version=definition.version, definition_hash=digest, created=created)
