"""Inbound events: ``workflow_runtime_events``, correlation rules, candidate waits and the event inbox."""

import asyncio
import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from engine.keyring import Keyring
from engine.redaction import Redactor
from engine.store.db import Conn
from engine.store.runs import open_input

# -- workflow_runtime_events ------------------------------------------------------------------------

# The primary key (tenant, event_id) is the dedupe: a second INSERT of the same id returns no row. Run
# inside a transaction, a concurrent INSERT of the same id blocks until the first one commits.
INSERT_EVENT = """
INSERT INTO workflow_runtime_events (tenant, event_id, event_name, payload, correlation_key, source)
VALUES ($1, $2, $3, '{}'::jsonb, $4, $5)
ON CONFLICT (tenant, event_id) DO NOTHING
RETURNING event_id
"""

# The recorded (redacted) payload, written in the transaction that claimed the id: the row commits with it,
# and the claim's empty placeholder is never visible to anyone.
RECORD_PAYLOAD = """
UPDATE workflow_runtime_events SET payload = $3 WHERE tenant = $1 AND event_id = $2
"""

GET_EVENT = """
SELECT event_id, event_name, payload, correlation_key, source, outcome,
       matched_run_ids::text[] AS matched_run_ids, started_run_ids::text[] AS started_run_ids,
       signaled_run_ids::text[] AS signaled_run_ids, error, received_at, routed_at
  FROM workflow_runtime_events
 WHERE tenant = $1 AND event_id = $2
"""

FINISH_EVENT = """
UPDATE workflow_runtime_events
   SET outcome = $3, matched_run_ids = $4::uuid[], started_run_ids = $5::uuid[], signaled_run_ids = $6::uuid[],
       error = $7, routed_at = now()
 WHERE tenant = $1 AND event_id = $2
"""

# Definitions whose *latest* version is triggered by the event name (served by the partial trigger index),
# with what the runs they start will redact: the event's payload is their input, recorded the same way.
TRIGGERED_DEFINITIONS = """
SELECT v.workflow_id, v.version, coalesce(v.definition -> 'redact', '[]'::jsonb) AS redact
  FROM workflow_definition_versions v
  JOIN workflow_definitions d
    ON d.tenant = v.tenant AND d.workflow_id = v.workflow_id AND d.latest_version = v.version
 WHERE v.tenant = $1 AND v.trigger_type = 'event' AND v.trigger_event_name = $2
 ORDER BY v.workflow_id
"""

# The runs an event may be delivered to: runs blocked on an event wait for this name and key. A wait whose
# key expression gave null accepts any key (engine.interpreter.matching), so it is a candidate too. Human
# waits reuse event_name/correlation_key for the task type and id, hence the wait_type filter. With each
# run comes what building its redactor needs (its sealed input, its definition's ``redact`` paths): a
# secret of theirs the event carries (a ticket's ssn echoed back) must not be recorded with the event.
# One statement gives both, so the runs signaled are the runs whose secrets the record masks. Served by
# workflow_run_waits_candidates (tenant, event_name, correlation_key, status).
CANDIDATE_RUNS = """
SELECT DISTINCT ON (r.run_id) r.run_id::text AS run_id, r.input_json,
       coalesce(v.definition -> 'redact', '[]'::jsonb) AS redact
  FROM workflow_run_waits w
  JOIN workflow_runs r ON r.tenant = w.tenant AND r.run_id = w.run_id
  LEFT JOIN workflow_definition_versions v
    ON v.tenant = r.tenant AND v.workflow_id = r.workflow_id AND v.version = r.workflow_version
 WHERE w.tenant = $1 AND w.event_name = $2 AND (w.correlation_key = $3 OR w.correlation_key IS NULL)
   AND w.status = 'WAITING' AND w.wait_type = 'event'
 ORDER BY r.run_id
"""


# -- queued delivery (issue 16) ----------------------------------------------------------------------
#
# A queued event is committed as ``pending`` with its deliveries (``matched_run_ids``) in the same
# transaction, and the worker signals them. Until then its ``payload`` column holds a small envelope:
# the recorded (redacted) payload, the original sealed with the keyring (the runs need the values the
# record masks), and the runs the event started (kept out of ``started_run_ids`` until the event is
# delivered, so a run's events pane never shows a half-routed event). Delivery unwraps it.

PENDING_MARKER = "runstudio-pending-delivery"
"""The key of the envelope a queued event's ``payload`` column holds until it is delivered."""

DELIVERY_CHANNEL = "workflow_event_delivery"
"""NOTIFYed (at commit) when an event is queued, so the worker's delivery loop wakes at once."""

QUEUE_EVENT = """
UPDATE workflow_runtime_events
   SET payload = jsonb_build_object($3::text, 1, 'recorded', payload, 'sealed', $4::jsonb, 'started', $5::jsonb),
       matched_run_ids = $6::uuid[], error = $7
 WHERE tenant = $1 AND event_id = $2 AND outcome = 'pending'
"""

NOTIFY_DELIVERY = "SELECT pg_notify($1, $2)"

# The one deliberately cross-tenant read of the delivery loop (like the inbox claim): queued events of
# every tenant, oldest first; SKIP LOCKED lets any number of workers deliver.
CLAIM_PENDING_DELIVERIES = """
SELECT tenant, event_id, event_name, correlation_key, payload, matched_run_ids::text[] AS matched_run_ids, error
  FROM workflow_runtime_events
 WHERE outcome = 'pending' AND payload ? $2
 ORDER BY received_at
 LIMIT $1
   FOR UPDATE SKIP LOCKED
"""

# clock_timestamp(), not now(): the delivering transaction began when the event was claimed, before its
# signals went out, and routed_at says when the last one was accepted.
FINISH_DELIVERY = """
UPDATE workflow_runtime_events
   SET payload = payload -> 'recorded', outcome = $3, started_run_ids = $4::uuid[], signaled_run_ids = $5::uuid[],
       error = $6, routed_at = clock_timestamp()
 WHERE tenant = $1 AND event_id = $2 AND outcome = 'pending'
"""


class PendingDelivery(BaseModel):
    """A queued event the worker has claimed: what to signal, to whom, and what routing already recorded."""

    tenant: str
    event_id: str
    event_name: str
    correlation_key: str
    sealed_payload: Any
    started_run_ids: list[str]
    matched_run_ids: list[str]
    error: str | None


async def queue_event(
    conn: Conn,
    *,
    tenant: str,
    event_id: str,
    sealed_payload: dict[str, Any],
    started_run_ids: list[str],
    matched_run_ids: list[str],
    error: str | None,
) -> None:
    """Turn a just-inserted ``pending`` event into a queued one (see above) and notify the delivery loop.

    Call it in the transaction that inserted the event: the event and its deliveries commit together.
    """
    await conn.execute(
        QUEUE_EVENT, tenant, event_id, PENDING_MARKER, sealed_payload, started_run_ids, matched_run_ids, error
    )
    await conn.execute(NOTIFY_DELIVERY, DELIVERY_CHANNEL, tenant)


async def claim_pending_deliveries(conn: Conn, *, limit: int) -> list[PendingDelivery]:
    """Lock up to ``limit`` queued events, oldest first, skipping those another worker holds.

    Call it inside a transaction: the locks last until it ends.
    """
    claimed = []
    for r in await conn.fetch(CLAIM_PENDING_DELIVERIES, limit, PENDING_MARKER):
        envelope = r["payload"]
        claimed.append(
            PendingDelivery(
                tenant=r["tenant"],
                event_id=r["event_id"],
                event_name=r["event_name"],
                correlation_key=r["correlation_key"],
                sealed_payload=envelope["sealed"],
                started_run_ids=list(envelope.get("started") or []),
                matched_run_ids=r["matched_run_ids"],
                error=r["error"],
            )
        )
    return claimed


async def finish_delivery(
    conn: Conn,
    *,
    tenant: str,
    event_id: str,
    outcome: str,
    started_run_ids: list[str],
    signaled_run_ids: list[str],
    error: str | None,
) -> None:
    """Store a queued event's final outcome; its ``payload`` becomes the recorded (redacted) one again."""
    await conn.execute(FINISH_DELIVERY, tenant, event_id, outcome, started_run_ids, signaled_run_ids, error)


def _unwrap_pending(fields: dict[str, Any]) -> dict[str, Any]:
    # A queued event read before delivery shows what will be kept, never the envelope.
    payload = fields.get("payload")
    if isinstance(payload, dict) and PENDING_MARKER in payload:
        fields["payload"] = payload.get("recorded")
        fields["started_run_ids"] = list(payload.get("started") or [])
    return fields


class EventRow(BaseModel):
    """One inbound event as stored, with its routing outcome (payload redacted when it was recorded)."""

    event_id: str
    event_name: str
    payload: Any
    correlation_key: str | None
    source: str
    outcome: str
    matched_run_ids: list[str]
    started_run_ids: list[str]
    signaled_run_ids: list[str]
    error: str | None
    received_at: datetime
    routed_at: datetime | None


class TriggeredDefinition(BaseModel):
    """A definition version that an event name starts, and the ``redact`` paths of its runs' input."""

    workflow_id: str
    version: int
    redact: list[str] = []


class CandidateRun(BaseModel):
    """A run with an open event wait the event may satisfy, and what building its redactor needs."""

    run_id: str
    input_json: Any
    """As stored: sealed (opened with the keyring) or, for a run not yet sealed, plain."""
    redact: list[str] = []


async def claim_event(
    conn: Conn, *, tenant: str, event_id: str, event_name: str, correlation_key: str | None, source: str
) -> bool:
    """Claim ``event_id`` for the tenant as a new ``pending`` event; False when that id was already recorded.

    Call it in a transaction and :func:`record_payload` in the same one: the row holds an empty payload
    until then (invisible, the transaction being open), so routing can begin before the payload is redacted.
    """
    inserted = await conn.fetchval(INSERT_EVENT, tenant, event_id, event_name, correlation_key, source)
    return inserted is not None


_YIELD_EVERY = 100
"""Waiting runs' inputs opened between two turns of the event loop while an event's payload is redacted."""


async def record_payload(
    conn: Conn,
    *,
    tenant: str,
    event_id: str,
    payload: dict[str, Any],
    triggered: "list[TriggeredDefinition]",
    candidates: "list[CandidateRun]",
    keyring: Keyring,
) -> None:
    """Record the payload of a claimed event, redacted as the input of the runs it triggers is.

    That is: sensitive keys, and every triggered definition's ``redact`` paths with the values found there
    masked wherever they appear, and the secrets of the ``candidates`` (the runs it is delivered to, their
    sealed inputs opened with ``keyring``) masked too. Routing works on the payload in hand, not on this row.
    """
    paths = [path for definition in triggered for path in definition.redact]
    recorded = Redactor.for_input(payload, paths)
    secrets = set(recorded.secrets)
    for index, candidate in enumerate(candidates):
        if index and index % _YIELD_EVERY == 0:
            await asyncio.sleep(0)  # signals in flight meanwhile get their replies read (issue 16)
        original = open_input(candidate.input_json, keyring)
        secrets |= Redactor.for_input(original, candidate.redact).secrets
    stored = Redactor(paths=recorded.paths, secrets=frozenset(secrets)).input(payload)
    await conn.execute(RECORD_PAYLOAD, tenant, event_id, stored)


async def get_event(conn: Conn, *, tenant: str, event_id: str) -> EventRow | None:
    """One event, or None."""
    row = await conn.fetchrow(GET_EVENT, tenant, event_id)
    return None if row is None else EventRow(**_unwrap_pending(dict(row)))


async def finish_event(
    conn: Conn,
    *,
    tenant: str,
    event_id: str,
    outcome: str,
    matched_run_ids: list[str],
    started_run_ids: list[str],
    signaled_run_ids: list[str],
    error: str | None,
) -> None:
    """Store the routing outcome of an event and stamp ``routed_at``."""
    await conn.execute(
        FINISH_EVENT, tenant, event_id, outcome, matched_run_ids, started_run_ids, signaled_run_ids, error
    )


async def triggered_definitions(conn: Conn, *, tenant: str, event_name: str) -> list[TriggeredDefinition]:
    """The definitions whose latest version is triggered by ``event_name`` (with their ``redact`` paths)."""
    return [TriggeredDefinition(**dict(r)) for r in await conn.fetch(TRIGGERED_DEFINITIONS, tenant, event_name)]


async def candidate_runs(conn: Conn, *, tenant: str, event_name: str, correlation_key: str) -> list[CandidateRun]:
    """Runs with an open event wait for ``event_name`` and ``correlation_key`` (or any key), by run id."""
    return [CandidateRun(**dict(r)) for r in await conn.fetch(CANDIDATE_RUNS, tenant, event_name, correlation_key)]


# -- workflow_event_correlation_rules ---------------------------------------------------------------

UPSERT_RULE = """
INSERT INTO workflow_event_correlation_rules (tenant, event_name, expression) VALUES ($1, $2, $3)
ON CONFLICT (tenant, event_name) DO UPDATE SET expression = EXCLUDED.expression, updated_at = now()
"""

GET_RULE = "SELECT expression FROM workflow_event_correlation_rules WHERE tenant = $1 AND event_name = $2"

LIST_RULES = """
SELECT event_name, expression, updated_at FROM workflow_event_correlation_rules WHERE tenant = $1 ORDER BY event_name
"""


class RuleRow(BaseModel):
    """How the correlation key of an event name is derived from its payload."""

    event_name: str
    expression: str
    updated_at: datetime


async def upsert_rule(conn: Conn, *, tenant: str, event_name: str, expression: str) -> None:
    """Create or replace the rule of ``event_name``."""
    await conn.execute(UPSERT_RULE, tenant, event_name, expression)


async def get_rule(conn: Conn, *, tenant: str, event_name: str) -> str | None:
    """The rule's expression, or None."""
    expression: str | None = await conn.fetchval(GET_RULE, tenant, event_name)
    return expression


async def list_rules(conn: Conn, *, tenant: str) -> list[RuleRow]:
    """Every rule of the tenant, by event name."""
    return [RuleRow(**dict(r)) for r in await conn.fetch(LIST_RULES, tenant)]


# -- workflow_event_inbox -----------------------------------------------------------------------------

# The one deliberately cross-tenant read of this module: the inbox is a single queue that other systems
# INSERT into for any tenant, and each row carries its tenant. SKIP LOCKED lets every worker consume it.
# A row that failed is retried only once its backoff (2^attempts seconds after it was enqueued, at most
# $2 seconds) has passed, so a failing row does not spin.
CLAIM_INBOX = """
SELECT id, tenant, event_id, event_name, payload::text AS payload_text, correlation_key, attempts
  FROM workflow_event_inbox
 WHERE processed_at IS NULL
   AND (attempts = 0 OR enqueued_at + make_interval(secs => least(power(2, attempts), $2)) <= now())
 ORDER BY id
 LIMIT $1
   FOR UPDATE SKIP LOCKED
"""

# Once routed, the row keeps the payload as the event was recorded (redacted): the sender's plaintext copy
# has served its purpose, and a processed inbox row is never read for its payload again.
MARK_INBOX_PROCESSED = """
UPDATE workflow_event_inbox i
   SET processed_at = now(),
       payload = coalesce((SELECT e.payload FROM workflow_runtime_events e
                            WHERE e.tenant = i.tenant AND e.event_id = i.event_id), i.payload)
 WHERE i.id = $1 AND i.tenant = $2
"""

# give_up: the row is parked (processed, with the error) instead of being retried again.
MARK_INBOX_FAILED = """
UPDATE workflow_event_inbox
   SET attempts = attempts + 1, last_error = $3, processed_at = CASE WHEN $4 THEN now() END
 WHERE id = $1 AND tenant = $2
"""


class InboxRow(BaseModel):
    """An event another system enqueued."""

    id: int
    tenant: str
    event_id: str
    event_name: str
    payload: Any
    correlation_key: str | None
    attempts: int
    payload_error: str | None = None
    """Why ``payload`` (then None) could not be read; set instead of failing the whole claim."""


async def claim_inbox(conn: Conn, *, limit: int, max_backoff_seconds: int) -> list[InboxRow]:
    """Lock up to ``limit`` unprocessed rows that are due, oldest first, skipping rows others hold.

    Call it inside a transaction: the locks last until it ends.
    """
    return [_inbox_row(dict(r)) for r in await conn.fetch(CLAIM_INBOX, limit, max_backoff_seconds)]


def _inbox_row(fields: dict[str, Any]) -> InboxRow:
    # Decoded row by row: a payload Python cannot read (nesting past its recursion
    # limit, an integer of thousands of digits) must fail its own row, not every claim of the queue.
    text = fields.pop("payload_text")
    try:
        payload = json.loads(text)
    except (RecursionError, ValueError) as exc:
        reason = f"the payload cannot be read: {type(exc).__name__}: {exc}"
        return InboxRow(**fields, payload=None, payload_error=reason)
    return InboxRow(**fields, payload=payload)


async def mark_inbox_processed(conn: Conn, *, row_id: int, tenant: str) -> None:
    """The row's event has been routed (or was a duplicate); its payload becomes the recorded, redacted one."""
    await conn.execute(MARK_INBOX_PROCESSED, row_id, tenant)


async def mark_inbox_failed(conn: Conn, *, row_id: int, tenant: str, error: str, give_up: bool) -> None:
    """Count a failed attempt; with ``give_up`` the row is marked processed and keeps ``last_error``."""
    await conn.execute(MARK_INBOX_FAILED, row_id, tenant, error, give_up)
