"""Event ingress (SPEC §7): resolve the correlation key, record the event once, start and signal runs.

Correlation rules
    A rule is a JSONata expression per (tenant, event name) evaluated over
    ``{"payload": <the event payload>, "event": {"name": <event name>, "id": <event id>}}`` (both keys
    are also bound as ``$payload`` and ``$event``), on the service clock, with the usual guardrails.
    Its result becomes the key as the interpreter makes a wait's key (``str(value)``), so one
    expression gives the same key in a rule and in an ``event.wait``. A null/undefined result leaves
    the event unresolved; an object or list result, or a failing expression, is a routing error.

Routing
    1. The key: the explicit one, else the rule's, else none (outcome ``unresolved_correlation``).
    2. The event is INSERTed once per (tenant, event_id) inside a transaction that stays open while it
       is routed, so a concurrent submit of the same id blocks on the unique key until the first one
       commits and then returns that first outcome (``duplicate=True``), starting and signaling nothing.
       Its redacted payload is written in that transaction while the signals are in flight (``_route``).
    3. Runs of every definition whose latest version is triggered by the event name are started, pinned
       to that version, with trigger ``event`` and ``{"eventId", "eventName", "correlationKey"}``
       metadata. A keyless event still starts them (a trigger needs no key); a payload a definition's
       schema rejects is an error recorded for that definition only.
    4. With a key, every run with an open event wait for (tenant, name, key) — or for the name with a
       null key, which accepts any key — is signaled ``event``; the workflow applies its filters. A
       failed signal is recorded and the others are still sent (``engine.services.delivery``: bounded,
       retried, a run that ended meanwhile was delivered to nobody). With ``queue=True`` (what
       ``runstudio event send`` does) the matched runs are recorded with the event as its deliveries,
       the call returns (outcome ``queued``) and the worker's delivery loop (``worker.fanout``) signals
       them and stores the final outcome.
    5. The outcome is stored on the event row: ``error`` if anything failed (every failure is listed
       in ``error``), else ``unresolved_correlation`` when there was no key, else ``routed``.

While it routes, an event holds one pool connection (its transaction) and starting runs borrows
another, so a process needs a pool of at least two connections per event it routes concurrently.

Delivery is at-least-once across crashes: if the process dies after starting runs but before the
transaction commits, the event row disappears with it and a resend routes it again. Temporal not
answering a health check when routing begins raises ``ServiceUnavailableError`` before anything is
recorded, so the sender (or the inbox) can retry with the same event id; Temporal failing in the
middle of routing is recorded as errors on the event.
"""

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal, TypeGuard

import asyncpg
from pydantic import BaseModel
from temporalio.client import Client

from engine import metrics
from engine.errors import RunStudioError, ServiceUnavailableError, TemporalUnavailable
from engine.expressions import EvalEnv, ExpressionError, check_expression, evaluate
from engine.inbound import (
    MAX_CORRELATION_KEY_LENGTH,
    MAX_EVENT_ID_LENGTH,
    MAX_EXPRESSION_LENGTH,
    InboundRejected,
    check_json,
    check_lookup,
    check_name,
    check_text,
)
from engine.services.context import ServiceContext
from engine.services.delivery import Delivered, deliver
from engine.services.launch import LaunchFailed, WorkflowNotFound, launch_run
from engine.services.payloads import PayloadRejected
from engine.store import events
from engine.store.events import EventRow, RuleRow, TriggeredDefinition
from engine.temporal.contracts import EventSignal
from engine.temporal.outage import temporal_outage

log = logging.getLogger("runstudio.ingress")

Outcome = Literal["routed", "unresolved_correlation", "error", "queued"]

_HEALTH_TIMEOUT = timedelta(seconds=5)


class EventRejected(RunStudioError):
    """The event cannot be recorded at all (no name, payload not a JSON object)."""


class CorrelationRuleInvalid(RunStudioError):
    """A correlation rule expression does not compile or uses something not allowed."""

    def __init__(self, event_name: str, expression: str, problems: list[str]) -> None:
        super().__init__(
            f"correlation rule for {event_name!r} is not valid: {'; '.join(problems)} (expression: {expression!r})"
        )
        self.problems = problems


class EventOutcome(BaseModel):
    """What happened to one submitted event (for a duplicate: what happened the first time)."""

    event_id: str
    event_name: str
    correlation_key: str | None
    matched_run_ids: list[str]
    """Runs that had an open wait for the name and key when the event was routed."""
    started_run_ids: list[str]
    signaled_run_ids: list[str]
    error: str | None
    duplicate: bool
    outcome: Outcome


async def submit_event(
    ctx: ServiceContext,
    name: str,
    payload: dict[str, Any],
    *,
    event_id: str | None = None,
    correlation_key: str | None = None,
    source: Literal["api", "inbox"] = "api",
    queue: bool = False,
) -> EventOutcome:
    """Record ``name`` once per ``event_id`` (default: a new UUID) and route it (see the module docstring).

    Raises ``InboundRejected`` when a value breaks the inbound rules (the name's charset, the payload's
    JSON rules, the length and characters of the id and the key), ``EventRejected`` for a payload that
    is not an object and ``ServiceUnavailableError`` when Temporal cannot be reached; none of them
    records anything. Routing failures do not raise: they are in the outcome.

    With ``queue``, the signals are not sent here: the event and its deliveries (the matched runs) commit
    in one transaction as ``pending`` and the call returns at once with outcome ``queued`` (the matched
    runs, nothing signaled yet); the worker's delivery loop (``worker.fanout``) signals them and stores
    the final outcome, which ``get_event`` then shows. Runs the event triggers are still started here.
    An event with no key or no waiting run has nothing to deliver and is finished at once either way.
    """
    check_name(name, kind="event name")
    if not isinstance(payload, dict):
        raise EventRejected(f"an event payload must be a JSON object, got {type(payload).__name__}")
    check_json(payload, what="event payload")
    if event_id is not None:
        check_text(event_id, what="event id", max_length=MAX_EVENT_ID_LENGTH)
    if correlation_key is not None:
        check_text(correlation_key, what="correlation key", max_length=MAX_CORRELATION_KEY_LENGTH)
    event_id = event_id or str(uuid.uuid4())
    key, key_error = correlation_key, None
    if key is None:
        key, key_error = await _derive_key(ctx, name, event_id, payload)
    # Checked before recording: an event recorded while Temporal is down would be stored as routed-with-
    # errors, and its resend (same id) would be a duplicate that routes nothing.
    client = await _reachable_temporal(ctx)
    async with ctx.pool.acquire() as conn, conn.transaction():
        claimed = await events.claim_event(
            conn, tenant=ctx.tenant, event_id=event_id, event_name=name, correlation_key=key, source=source
        )
        if not claimed:
            first = await events.get_event(conn, tenant=ctx.tenant, event_id=event_id)
            if first is None:  # pragma: no cover - the conflicting row exists by definition
                raise RunStudioError(f"event {event_id!r} vanished while reading it")
            return _outcome_of(first, duplicate=True)
        routed = await _route(ctx, conn, client, name, event_id, payload, key, signal=not queue)
        errors = ([key_error] if key_error else []) + routed.errors
        error = "; ".join(errors) or None
        if queue and key is not None and routed.matched:
            # The event and its deliveries commit together; the worker signals them (worker.fanout).
            await events.queue_event(
                conn,
                tenant=ctx.tenant,
                event_id=event_id,
                sealed_payload=ctx.keyring.seal_json(payload),
                started_run_ids=routed.started,
                matched_run_ids=routed.matched,
                error=error,
            )
            outcome: Outcome = "queued"
        else:
            outcome = "error" if errors else ("unresolved_correlation" if key is None else "routed")
            await events.finish_event(
                conn,
                tenant=ctx.tenant,
                event_id=event_id,
                outcome=outcome,
                matched_run_ids=routed.matched,
                started_run_ids=routed.started,
                signaled_run_ids=routed.signaled,
                error=error,
            )
    metrics.INGRESS_EVENTS.labels(outcome=outcome, source=source).inc()
    if error:
        log.warning("event %s (%s) for tenant %s routed with errors: %s", event_id, name, ctx.tenant, error)
    return EventOutcome(
        event_id=event_id,
        event_name=name,
        correlation_key=key,
        matched_run_ids=routed.matched,
        started_run_ids=routed.started,
        signaled_run_ids=routed.signaled,
        error=error,
        duplicate=False,
        outcome=outcome,
    )


async def get_event(ctx: ServiceContext, event_id: str) -> EventOutcome | None:
    """The stored outcome of an event, or None if it was never recorded (or is still being routed)."""
    check_lookup(event_id, what="event id")
    row = await events.get_event(ctx.pool, tenant=ctx.tenant, event_id=event_id)
    return None if row is None else _outcome_of(row, duplicate=False)


async def set_correlation_rule(ctx: ServiceContext, event_name: str, expression: str) -> None:
    """Create or replace how ``event_name`` derives its key; ``CorrelationRuleInvalid`` lists every problem.

    The name and the expression pass the inbound rules first (``InboundRejected``); the expression may
    span lines.
    """
    check_name(event_name, kind="event name")
    check_text(expression, what="correlation rule", max_length=MAX_EXPRESSION_LENGTH, multiline=True)
    problems = check_expression(expression)
    if problems:
        raise CorrelationRuleInvalid(event_name, expression, problems)
    await events.upsert_rule(ctx.pool, tenant=ctx.tenant, event_name=event_name, expression=expression)


async def get_correlation_rule(ctx: ServiceContext, event_name: str) -> str | None:
    """The rule expression of ``event_name``, or None."""
    check_lookup(event_name, what="event name")
    return await events.get_rule(ctx.pool, tenant=ctx.tenant, event_name=event_name)


async def list_correlation_rules(ctx: ServiceContext) -> list[RuleRow]:
    """Every correlation rule of the tenant."""
    return await events.list_rules(ctx.pool, tenant=ctx.tenant)


def rule_context(name: str, event_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The JSONata input of a correlation rule."""
    return {"payload": payload, "event": {"name": name, "id": event_id}}


# -- routing --------------------------------------------------------------------------------------


@dataclass
class _Routed:
    """What routing did so far; ``errors`` collects every failure instead of stopping at the first."""

    matched: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    signaled: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


async def _reachable_temporal(ctx: ServiceContext) -> Client:
    """The Temporal client, once Temporal answers a health check (``ServiceUnavailableError`` if not)."""
    client = await ctx.temporal()
    try:
        healthy = await client.service_client.check_health(timeout=_HEALTH_TIMEOUT)
    except Exception as exc:
        why = temporal_outage(exc) or "it did not answer its health check"
        raise TemporalUnavailable(ctx.endpoints.temporal_address, why) from exc
    if not healthy:
        raise TemporalUnavailable(ctx.endpoints.temporal_address, "it reports itself unhealthy")
    return client


async def _derive_key(
    ctx: ServiceContext, name: str, event_id: str, payload: dict[str, Any]
) -> tuple[str | None, str | None]:
    """(key, error): the rule's key, or no key with the reason the rule could not give one."""
    expression = await events.get_rule(ctx.pool, tenant=ctx.tenant, event_name=name)
    if expression is None:
        return None, None
    try:
        value = evaluate(expression, rule_context(name, event_id, payload), EvalEnv(now=ctx.clock))
    except ExpressionError as exc:
        return None, f"correlation rule failed: {exc}"
    if value is None:
        return None, None
    if isinstance(value, dict | list):
        return None, f"correlation rule {expression!r} gave a {type(value).__name__}, not a key"
    # The same conversion the interpreter applies to an event.wait's key, so both sides agree.
    key = str(value)
    try:
        check_text(key, what="correlation key", max_length=MAX_CORRELATION_KEY_LENGTH)
    except InboundRejected as exc:
        return None, f"correlation rule {expression!r} gave an unusable key: {exc.rule}"
    return key, None


async def _route(
    ctx: ServiceContext,
    conn: asyncpg.Connection,
    client: Client,
    name: str,
    event_id: str,
    payload: dict[str, Any],
    key: str | None,
    *,
    signal: bool,
) -> _Routed:
    """Start the triggered runs, find the waiting ones, signal them unless the event is queued, and record
    the event's (redacted) payload on the row claimed in ``conn``'s transaction.

    The signals go out before the payload is redacted (opening every waiting run's sealed input): the
    redaction runs while they are in flight, so the first signal waits for five round trips (health check,
    BEGIN, the claim, the triggered definitions, the waiting runs), not for N decryptions. Should the
    recording fail, the signals still to send are canceled and the transaction rolls back: the event is
    delivered at least once, as after a crash, and a resend with its id routes it again.
    """
    routed = _Routed()
    triggered = await events.triggered_definitions(ctx.pool, tenant=ctx.tenant, event_name=name)
    await _start_triggered(ctx, triggered, name, event_id, payload, key, routed)
    candidates = []
    if key is not None:
        candidates = await events.candidate_runs(conn, tenant=ctx.tenant, event_name=name, correlation_key=key)
        routed.matched = [candidate.run_id for candidate in candidates]
    sending: asyncio.Future[Delivered] | None = None
    if signal and routed.matched and key is not None:
        event = EventSignal(event_id=event_id, event_name=name, correlation_key=key, payload=payload)
        first_sent = asyncio.Event()
        sending = asyncio.ensure_future(deliver(client, routed.matched, event, first_sent=first_sent))
        # The redaction below is CPU work that would otherwise run before the senders had their first turn.
        started = asyncio.ensure_future(first_sent.wait())
        await asyncio.wait([sending, started], return_when=asyncio.FIRST_COMPLETED)
        started.cancel()
    try:
        await events.record_payload(
            conn,
            tenant=ctx.tenant,
            event_id=event_id,
            payload=payload,
            triggered=triggered,
            candidates=candidates,
            keyring=ctx.keyring,
        )
    except BaseException:
        if sending is not None:
            # No signal is left in flight behind the caller's back; the rollback makes a resend route again.
            sending.cancel()
            await asyncio.gather(sending, return_exceptions=True)
        raise
    if sending is not None:
        delivered = await sending
        routed.signaled = delivered.signaled
        routed.errors += delivered.errors
    return routed


async def _start_triggered(
    ctx: ServiceContext,
    triggered: list[TriggeredDefinition],
    name: str,
    event_id: str,
    payload: dict[str, Any],
    key: str | None,
    routed: _Routed,
) -> None:
    metadata = {"eventId": event_id, "eventName": name, "correlationKey": key}
    for definition in triggered:
        label = f"{definition.workflow_id}@{definition.version}"
        try:
            run_id = await launch_run(
                ctx,
                workflow_id=definition.workflow_id,
                version=definition.version,
                payload=payload,
                trigger="event",
                trigger_metadata=metadata,
            )
        except PayloadRejected as exc:
            routed.errors.append(f"did not start {label}: payload rejected: {exc}")
        except (LaunchFailed, WorkflowNotFound, InboundRejected) as exc:
            routed.errors.append(f"did not start {label}: {exc}")
        else:
            routed.started.append(run_id)


def _is_outcome(value: str) -> TypeGuard[Outcome]:
    return value in ("routed", "unresolved_correlation", "error", "queued")


def _outcome_of(row: EventRow, *, duplicate: bool) -> EventOutcome:
    # 'pending' is visible only for a queued event (an inline one is inserted and finished in one
    # transaction): it waits for the worker's delivery.
    stored = "queued" if row.outcome == "pending" else row.outcome
    outcome: Outcome = stored if _is_outcome(stored) else "error"
    return EventOutcome(
        event_id=row.event_id,
        event_name=row.event_name,
        correlation_key=row.correlation_key,
        matched_run_ids=row.matched_run_ids,
        started_run_ids=row.started_run_ids,
        signaled_run_ids=row.signaled_run_ids,
        error=row.error,
        duplicate=duplicate,
        outcome=outcome,
    )


# -- the inbox ------------------------------------------------------------------------------------

INBOX_MAX_ATTEMPTS = 5
"""After this many failed attempts an inbox row is parked: marked processed, keeping ``last_error``."""

INBOX_MAX_BACKOFF_SECONDS = 300
"""A failed row is retried 2^attempts seconds after it was enqueued, at most this long after."""


async def ingest_inbox_batch(
    ctx_for_tenant: Callable[[str], ServiceContext], pool: asyncpg.Pool, *, limit: int = 50
) -> int:
    """Route up to ``limit`` due rows of ``workflow_event_inbox`` and return how many were handled.

    The rows are locked ``FOR UPDATE SKIP LOCKED`` for the batch, so any number of workers can consume
    the inbox and each row is routed by one of them; each goes through ``submit_event`` (source
    ``inbox``, the row's tenant and event id), so a row routed twice after a crash is a duplicate.
    A row is then marked processed. Failures:

    - an unusable event (``EventRejected``, ``InboundRejected`` naming the path and rule, or a payload
      Python cannot even read) is marked processed at once with ``last_error``;
    - Temporal unreachable stops the batch without touching the row (not the row's fault), commits
      what was done, and re-raises so the consumer backs off;
    - anything else counts an attempt and records ``last_error``; the row is retried after a backoff
      and parked (processed, ``last_error`` kept) after ``INBOX_MAX_ATTEMPTS``, so a poison row never
      blocks the queue. Re-enqueue a parked row with ``UPDATE … SET processed_at = NULL, attempts = 0``.
    """
    handled = 0
    unavailable: ServiceUnavailableError | None = None
    async with pool.acquire() as conn, conn.transaction():
        rows = await events.claim_inbox(conn, limit=limit, max_backoff_seconds=INBOX_MAX_BACKOFF_SECONDS)
        for row in rows:
            if row.payload_error is not None:
                await events.mark_inbox_failed(
                    conn, row_id=row.id, tenant=row.tenant, error=row.payload_error, give_up=True
                )
                handled += 1
                continue
            try:
                await submit_event(
                    ctx_for_tenant(row.tenant),
                    row.event_name,
                    row.payload,
                    event_id=row.event_id,
                    correlation_key=row.correlation_key,
                    source="inbox",
                )
            except ServiceUnavailableError as exc:
                unavailable = exc
                break
            except (EventRejected, InboundRejected) as exc:
                # The row itself is unusable: retrying cannot help, so it is parked at once with the reason.
                await events.mark_inbox_failed(conn, row_id=row.id, tenant=row.tenant, error=str(exc), give_up=True)
            except Exception as exc:
                attempts = row.attempts + 1
                give_up = attempts >= INBOX_MAX_ATTEMPTS
                reason = f"{type(exc).__name__}: {exc}"
                if give_up:
                    reason = f"gave up after {attempts} attempts: {reason}"
                log.exception("inbox row %s (event %s, tenant %s) failed", row.id, row.event_id, row.tenant)
                await events.mark_inbox_failed(conn, row_id=row.id, tenant=row.tenant, error=reason, give_up=give_up)
            else:
                await events.mark_inbox_processed(conn, row_id=row.id, tenant=row.tenant)
            handled += 1
    if unavailable is not None:
        raise unavailable
    return handled
