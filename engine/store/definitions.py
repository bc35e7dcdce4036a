"""Queries over ``workflow_definitions`` and their immutable versions."""

from datetime import datetime
from typing import Any

import asyncpg
from pydantic import BaseModel, ConfigDict

from engine.store.db import Conn

UPSERT_DEFINITION = """
INSERT INTO workflow_definitions (tenant, workflow_id, latest_version, name)
VALUES ($1, $2, $3, $4)
ON CONFLICT (tenant, workflow_id) DO UPDATE
   SET latest_version = greatest(workflow_definitions.latest_version, EXCLUDED.latest_version),
       name = CASE WHEN EXCLUDED.latest_version >= workflow_definitions.latest_version
                   THEN EXCLUDED.name ELSE workflow_definitions.name END,
       updated_at = now()
"""

INSERT_VERSION = """
INSERT INTO workflow_definition_versions (tenant, workflow_id, version, definition, definition_hash, trigger_type,
                                          trigger_event_name, published_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (tenant, workflow_id, version) DO NOTHING
"""

GET_VERSION = """
SELECT workflow_id, version, definition, definition_hash, published_at FROM workflow_definition_versions
 WHERE tenant = $1 AND workflow_id = $2 AND version = $3
"""

GET_LATEST = """
SELECT v.workflow_id, v.version, v.definition, v.definition_hash, v.published_at
  FROM workflow_definitions d
  JOIN workflow_definition_versions v
    ON v.tenant = d.tenant AND v.workflow_id = d.workflow_id AND v.version = d.latest_version
 WHERE d.tenant = $1 AND d.workflow_id = $2
"""

LIST_DEFINITIONS = """
SELECT d.workflow_id, d.name, d.latest_version, v.trigger_type, v.trigger_event_name, v.definition_hash,
       v.published_at
  FROM workflow_definitions d
  JOIN workflow_definition_versions v
    ON v.tenant = d.tenant AND v.workflow_id = d.workflow_id AND v.version = d.latest_version
 WHERE d.tenant = $1
 ORDER BY d.workflow_id
"""


class DefinitionVersion(BaseModel):
    """One published version of a definition."""

    model_config = ConfigDict(defer_build=True)  # built on first use: listing runs never uses it

    workflow_id: str
    version: int
    definition: dict[str, Any]
    definition_hash: str
    published_at: datetime


class DefinitionSummary(BaseModel):
    """A definition as listed: its latest version."""

    model_config = ConfigDict(defer_build=True)  # built on first use: listing runs never uses it

    workflow_id: str
    name: str
    latest_version: int
    trigger_type: str
    trigger_event_name: str | None
    definition_hash: str
    published_at: datetime


async def insert_version(
    conn: asyncpg.Connection,
    *,
    tenant: str,
    workflow_id: str,
    version: int,
    name: str,
    definition: dict[str, Any],
    definition_hash: str,
    trigger_type: str,
    trigger_event_name: str | None,
    published_by: str | None,
) -> bool:
    """Insert a version (and bump the definition's latest); False when that version already exists."""
    async with conn.transaction():
        await conn.execute(UPSERT_DEFINITION, tenant, workflow_id, version, name)
        status = await conn.execute(
            INSERT_VERSION,
            tenant,
            workflow_id,
            version,
            definition,
            definition_hash,
            trigger_type,
            trigger_event_name,
            published_by,
        )
    return bool(status.endswith(" 1"))


async def get_version(conn: Conn, *, tenant: str, workflow_id: str, version: int | None) -> DefinitionVersion | None:
    """A specific version, or the latest when ``version`` is None."""
    if version is None:
        row = await conn.fetchrow(GET_LATEST, tenant, workflow_id)
    else:
        row = await conn.fetchrow(GET_VERSION, tenant, workflow_id, version)
    return None if row is None else DefinitionVersion(**dict(row))


async def list_latest(conn: Conn, *, tenant: str) -> list[DefinitionSummary]:
    """Every definition of the tenant with its latest version."""
    return [DefinitionSummary(**dict(r)) for r in await conn.fetch(LIST_DEFINITIONS, tenant)]
