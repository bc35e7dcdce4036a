"""Queries over ``workflow_runs``: creating runs, loading them for execution, listing and reading them.

A run's input is stored twice, at the one insert every run goes through (manual, event, child, replay):
``input_json`` sealed with the keyring (the one original, opened only to execute or replay the run) and
``input_redacted``, what people may see. Reads for people get the redacted copy as ``RunRow.input``.
"""

import re
from datetime import datetime
from typing import Any

import asyncpg
from pydantic import BaseModel, ConfigDict

from engine.keyring import Keyring, is_sealed
from engine.redaction import Redactor
from engine.store.db import Conn
from engine.store.definitions import DefinitionVersion
from engine.temporal import workflow_id_for_run

_UUID_PREFIX = re.compile(r"[0-9a-f-]{1,36}")

INSERT_RUN = """
INSERT INTO workflow_runs (tenant, run_id, workflow_id, workflow_version, status, engine, temporal_workflow_id,
                           definition_hash, parent_run_id, root_run_id, input_json, trigger, trigger_metadata,
                           input_redacted)
VALUES ($1, $2::uuid, $3, $4, 'RUNNING', 'temporal', $5, $6, $7::uuid, coalesce($8::uuid, $2::uuid), $9, $10, $11,
        $12)
ON CONFLICT (tenant, run_id) DO NOTHING
"""

PARENT_ROOT = "SELECT coalesce(root_run_id, run_id) FROM workflow_runs WHERE tenant = $1 AND run_id = $2"

LOAD_FOR_EXECUTION = """
UPDATE workflow_runs r
   SET temporal_run_id = $3, updated_at = now()
  FROM workflow_definition_versions v
 WHERE r.tenant = $1 AND r.run_id = $2
   AND v.tenant = r.tenant AND v.workflow_id = r.workflow_id AND v.version = r.workflow_version
RETURNING r.workflow_id, r.workflow_version, r.definition_hash, r.input_json, v.definition
"""

ORIGINAL_INPUT = "SELECT input_json FROM workflow_runs WHERE tenant = $1 AND run_id = $2"

MARK_START_FAILED = """
UPDATE workflow_runs
   SET status = 'FAILED', error_json = $3, completed_at = now(), updated_at = now()
 WHERE tenant = $1 AND run_id = $2 AND completed_at IS NULL
"""

COUNT_STUCK = """
SELECT count(*) FROM workflow_runs
 WHERE tenant = $1 AND status = 'RUNNING' AND step_count = 0 AND started_at < $2
"""

# The input people may see: the redacted copy; a plaintext row from before the sealing step has none and
# falls back to its plaintext column, which the services redact on read as they always did.
_RUN_COLUMNS = """
run_id::text AS run_id, workflow_id, workflow_version, status, engine, trigger, trigger_metadata,
coalesce(input_redacted, input_json) AS input_json, vars_json, output_json, error_json,
parent_run_id::text AS parent_run_id, root_run_id::text AS root_run_id,
temporal_workflow_id, temporal_run_id, definition_hash, current_step_path, step_count, created_at, started_at,
updated_at, completed_at, cancel_requested_at, cancel_requested_by
"""

GET_RUN = f"SELECT {_RUN_COLUMNS} FROM workflow_runs WHERE tenant = $1 AND run_id = $2"

RUN_COLUMNS = _RUN_COLUMNS
"""Every column of a run, as ``RunRow`` reads them (for queries built elsewhere, e.g. ``run_list``)."""

# Run-id prefix lookup. ``run_id`` is a uuid, so ``run_id::text LIKE 'ab12%'`` cannot use the primary key;
# a prefix is instead the range [prefix padded with 0s, prefix padded with fs], which uuid's byte order (the
# same as its hex text's) turns into an index range scan on (tenant, run_id). It orders by the uuid column,
# not the text alias of the same name, so the index gives the order too and no sort is needed.
RESOLVE_PREFIX = """
SELECT run_id::text AS run_id, workflow_id, status FROM workflow_runs
 WHERE tenant = $1 AND run_id >= $2::uuid AND run_id <= $3::uuid
 ORDER BY workflow_runs.run_id LIMIT $4
"""


# First request wins: a second cancel finds the column set and learns who asked first, and when.
REQUEST_CANCEL = """
UPDATE workflow_runs
   SET cancel_requested_at = now(), cancel_requested_by = $3
 WHERE tenant = $1 AND run_id = $2 AND cancel_requested_at IS NULL
RETURNING cancel_requested_at
"""

CANCEL_REQUEST = "SELECT cancel_requested_at, cancel_requested_by FROM workflow_runs WHERE tenant = $1 AND run_id = $2"

CHILDREN = f"""
SELECT {_RUN_COLUMNS} FROM workflow_runs WHERE tenant = $1 AND parent_run_id = $2 ORDER BY started_at, run_id
"""


class RunRow(BaseModel):
    """A run as stored; ``input`` is the redacted copy (or, for a row not yet sealed, the plaintext: redact it)."""

    run_id: str
    workflow_id: str
    workflow_version: int
    status: str
    engine: str | None
    trigger: str
    trigger_metadata: dict[str, Any]
    input: dict[str, Any]
    vars: dict[str, Any]
    output: Any
    error: dict[str, Any] | None
    parent_run_id: str | None
    root_run_id: str | None
    temporal_workflow_id: str | None
    temporal_run_id: str | None
    definition_hash: str | None
    current_step_path: str | None
    step_count: int
    created_at: datetime
    started_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    cancel_requested_at: datetime | None = None
    """When Temporal accepted a cancel of this run (it stays RUNNING/WAITING until a worker unwinds it)."""
    cancel_requested_by: str | None = None


class RunIdMatch(BaseModel):
    """A run whose id starts with a given prefix: enough to tell candidates apart."""

    run_id: str
    workflow_id: str
    status: str


class CancelRequest(BaseModel):
    """Who asked first for a run to be canceled, and when."""

    model_config = ConfigDict(defer_build=True)  # built on first use: listing runs never uses it

    requested_at: datetime
    requested_by: str | None


class ExecutionRow(BaseModel):
    """What the workflow needs to start interpreting."""

    model_config = ConfigDict(defer_build=True)  # built on first use: listing runs never uses it

    workflow_id: str
    workflow_version: int
    definition_hash: str
    payload: dict[str, Any]
    definition: dict[str, Any]


def _run_row(record: asyncpg.Record) -> RunRow:
    data = dict(record)
    data["input"] = data.pop("input_json")
    data["vars"] = data.pop("vars_json")
    data["output"] = data.pop("output_json")
    data["error"] = data.pop("error_json")
    return RunRow(**data)


async def insert_run(
    conn: Conn,
    *,
    tenant: str,
    run_id: str,
    version: DefinitionVersion,
    payload: dict[str, Any],
    trigger: str,
    trigger_metadata: dict[str, Any] | None = None,
    keyring: Keyring,
    parent_run_id: str | None = None,
    root_run_id: str | None = None,
    inherited_secrets: frozenset[str] = frozenset(),
) -> None:
    """Write a new RUNNING run pinned to ``version`` (engine is always 'temporal').

    The input is written sealed with ``keyring`` and, beside it, redacted by the definition's ``redact``
    (and, for a child, with its ancestors' secrets masked: ``inherited_secrets``).
    """
    own = Redactor.for_input(payload, version.definition.get("redact", []))
    shown = Redactor(paths=own.paths, secrets=own.secrets | inherited_secrets).input(payload)
    await conn.execute(
        INSERT_RUN,
        tenant,
        run_id,
        version.workflow_id,
        version.version,
        workflow_id_for_run(run_id),
        version.definition_hash,
        parent_run_id,
        root_run_id,
        keyring.seal_json(payload),
        trigger,
        trigger_metadata or {},
        shown,
    )


async def insert_child(
    conn: asyncpg.Connection,
    *,
    tenant: str,
    run_id: str,
    parent_run_id: str,
    version: DefinitionVersion,
    payload: dict[str, Any],
    step_path: str,
    keyring: Keyring,
) -> None:
    """Write a child run linked to its parent and to the parent's root (idempotent on ``run_id``)."""
    from engine.store.run_redaction import load_redactor  # it builds on this module's input opening

    root = await conn.fetchval(PARENT_ROOT, tenant, parent_run_id)
    parent = await load_redactor(conn, tenant=tenant, run_id=parent_run_id, keyring=keyring)
    await insert_run(
        conn,
        tenant=tenant,
        run_id=run_id,
        version=version,
        payload=payload,
        trigger="child",
        trigger_metadata={"parentRunId": parent_run_id, "parentStepPath": step_path},
        keyring=keyring,
        parent_run_id=parent_run_id,
        root_run_id=str(root) if root else parent_run_id,
        inherited_secrets=parent.secrets if parent is not None else frozenset(),
    )


async def load_for_execution(
    conn: Conn, *, tenant: str, run_id: str, temporal_run_id: str, keyring: Keyring
) -> ExecutionRow | None:
    """The run's original (opened) input and pinned definition; records which Temporal run executes it."""
    row = await conn.fetchrow(LOAD_FOR_EXECUTION, tenant, run_id, temporal_run_id)
    if row is None:
        return None
    return ExecutionRow(
        workflow_id=row["workflow_id"],
        workflow_version=row["workflow_version"],
        definition_hash=row["definition_hash"],
        payload=open_input(row["input_json"], keyring),
        definition=row["definition"],
    )


def open_input(stored: Any, keyring: Keyring) -> Any:
    """The original input from ``input_json``: opened when sealed, as is when still plaintext (not yet sealed)."""
    return keyring.open_json(stored) if is_sealed(stored) else stored


async def original_input(conn: Conn, *, tenant: str, run_id: str, keyring: Keyring) -> dict[str, Any] | None:
    """The run's original, unredacted input (for replay only: never show it); None if there is no such run."""
    row = await conn.fetchrow(ORIGINAL_INPUT, tenant, run_id)
    if row is None:
        return None
    opened: dict[str, Any] = open_input(row["input_json"], keyring)
    return opened


async def mark_start_failed(conn: Conn, *, tenant: str, run_id: str, error: dict[str, Any]) -> None:
    """The run could not be handed to Temporal: FAILED with the reason, never RUNNING for nobody."""
    await conn.execute(MARK_START_FAILED, tenant, run_id, error)


async def get(conn: Conn, *, tenant: str, run_id: str) -> RunRow | None:
    """One run, or None."""
    row = await conn.fetchrow(GET_RUN, tenant, run_id)
    return None if row is None else _run_row(row)


async def request_cancel(conn: Conn, *, tenant: str, run_id: str, requested_by: str) -> CancelRequest | None:
    """Record that Temporal accepted a cancel; None when one was already recorded (the earlier one stands)."""
    requested_at: datetime | None = await conn.fetchval(REQUEST_CANCEL, tenant, run_id, requested_by)
    return None if requested_at is None else CancelRequest(requested_at=requested_at, requested_by=requested_by)


async def cancel_request(conn: Conn, *, tenant: str, run_id: str) -> CancelRequest | None:
    """The recorded cancel request of a run, or None if nobody asked (or the run does not exist)."""
    row = await conn.fetchrow(CANCEL_REQUEST, tenant, run_id)
    if row is None or row["cancel_requested_at"] is None:
        return None
    return CancelRequest(requested_at=row["cancel_requested_at"], requested_by=row["cancel_requested_by"])


async def children(conn: Conn, *, tenant: str, run_id: str) -> list[RunRow]:
    """Child runs of a run, oldest first."""
    return [_run_row(r) for r in await conn.fetch(CHILDREN, tenant, run_id)]


async def list_page(
    conn: Conn,
    *,
    tenant: str,
    status: str | None = None,
    workflow_id: str | None = None,
    run_id_prefix: str | None = None,
    after: tuple[datetime, str] | None = None,
    limit: int = 100,
) -> list[RunRow]:
    """One keyset page of runs, newest first; pass the last row's (started_at, run_id) as ``after``.

    ``run_id_prefix`` must be lowercase hex digits and dashes (a UUID's alphabet), so it can never
    carry a LIKE wildcard. The runs list's other filters and sorts are in ``run_list.page``.
    """
    from engine.store import run_list  # it builds on this module's columns

    if run_id_prefix is not None and not _UUID_PREFIX.fullmatch(run_id_prefix):
        raise ValueError(f"{run_id_prefix!r} is not the start of a run id")
    where = run_list.RunFilter(status=status, workflow_id=workflow_id, run_id_prefix=run_id_prefix)
    return list(await run_list.page(conn, tenant=tenant, where=where, after=after, limit=limit))


def run_row(record: asyncpg.Record | dict[str, Any]) -> dict[str, Any]:
    """The ``RunRow`` fields of a record selected with ``RUN_COLUMNS`` (JSON columns renamed), other keys kept."""
    data = dict(record)
    data["input"] = data.pop("input_json")
    data["vars"] = data.pop("vars_json")
    data["output"] = data.pop("output_json")
    data["error"] = data.pop("error_json")
    return data


async def runs_with_id_between(conn: Conn, *, tenant: str, lowest: str, highest: str, limit: int) -> list[RunIdMatch]:
    """Runs whose id lies in ``lowest..highest`` (canonical UUIDs), in id order, at most ``limit``."""
    rows = await conn.fetch(RESOLVE_PREFIX, tenant, lowest, highest, limit)
    return [RunIdMatch(run_id=r["run_id"], workflow_id=r["workflow_id"], status=r["status"]) for r in rows]


async def count_stuck(conn: Conn, *, tenant: str, started_before: datetime) -> int:
    """Number of RUNNING runs with no step that started before ``started_before``."""
    count: int = await conn.fetchval(COUNT_STUCK, tenant, started_before)
    return count
