"""The activities behind the workflow: load the run, project, run actions, create child runs.

They hold the database pool and the action registry; the worker registers their bound methods.
"""

import asyncio
import contextlib
import itertools
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError

from engine import failures, metrics
from engine.actions.base import ActionContext, ActionSpec, invoke
from engine.actions.errors import ActionError
from engine.actions.registry import ActionRegistry
from engine.default_keyring import settings_keyring
from engine.dsl.hashing import definition_hash
from engine.interpreter.effects import ActionFailed, ActionSucceeded
from engine.keyring import Keyring
from engine.log_context import log_context
from engine.redaction import Redactor
from engine.services import scheduled_launch
from engine.services.launch import preloaded
from engine.services.payloads import PayloadRejected, check_payload
from engine.services.scheduled_launch import SCHEDULED_LAUNCH_REFUSED
from engine.store import definitions, invocations, logs, projections, runs
from engine.store.run_redaction import RunRedactors
from engine.temporal import contracts as c


def _count(projection: c.Projection) -> None:
    """Feed the worker's counters from what was just projected."""
    for step in projection.steps:
        if step.status != "STARTED":
            metrics.STEPS.labels(status=step.status).inc()
    if projection.execution is not None and projection.execution.first_execution:
        metrics.RUNS_STARTED.inc()  # counted by load_run for runs that take it
    run = projection.run
    if run is not None and run.completed_at is not None and run.status is not None:
        metrics.RUNS_FINISHED.labels(status=run.status).inc()


HEARTBEAT_EVERY = 5.0
"""Seconds between heartbeats while an action runs; the workflow's heartbeat timeout is a few of these."""

PROJECT_EARLY_AFTER = 0.5
"""Seconds a pure action may run before the projection sent with it is written on its own (see ``_run_pure``)."""


@contextlib.contextmanager
def _heartbeating() -> Iterator[None]:
    """Heartbeat while the body runs, so Temporal notices a dead worker in seconds, not at the timeout.

    A timer on the loop rather than a task: most actions finish long before the first beat is due, and then
    no heartbeat (a call to the server) is sent at all; the heartbeat timeout counts from the attempt's
    start, so a silent first ``HEARTBEAT_EVERY`` seconds is still well inside it.
    """
    loop = asyncio.get_running_loop()
    handle: asyncio.TimerHandle | None = None

    def beat() -> None:
        nonlocal handle
        activity.heartbeat()
        handle = loop.call_later(HEARTBEAT_EVERY, beat)

    # call_later copies the current context: the callback runs inside this activity's context.
    handle = loop.call_later(HEARTBEAT_EVERY, beat)
    try:
        yield
    finally:
        handle.cancel()


@dataclass
class Activities:
    """Activity implementations bound to a pool, a registry and the HTTP allow-list.

    Each activity is :func:`~engine.failures.guarded`: a transient fault propagates as it is and Temporal
    retries it; a deterministic one becomes a non-retryable error of the activity's category, and the
    workflow ends the run FAILED through :meth:`fail_run`.
    """

    pool: asyncpg.Pool
    registry: ActionRegistry
    http_allowed_hosts: frozenset[str] = frozenset()
    keyring: Keyring = field(default_factory=settings_keyring)
    """Opens the run's sealed input (to execute it and to build its redactor) and seals ledger outputs."""

    def __post_init__(self) -> None:
        self._redactors = RunRedactors(self.keyring)

    def all(self) -> list[Any]:
        """Every activity, for ``Worker(activities=...)``."""
        return [
            self.load_run,
            self.project,
            self.run_action,
            self.create_child_run,
            self.fail_run,
            self.launch_scheduled_run,
        ]

    @activity.defn(name=c.LOAD_RUN)
    @failures.guarded(failures.LOAD_ERROR)
    async def load_run(self, request: c.LoadRunRequest) -> c.LoadedRun:
        """Load the run's pinned definition, check its hash, and note the Temporal run id."""
        async with self.pool.acquire() as conn:
            row = await runs.load_for_execution(
                conn,
                tenant=request.tenant,
                run_id=request.run_id,
                temporal_run_id=request.temporal_run_id,
                keyring=self.keyring,
            )
        if row is None:
            raise ApplicationError(
                f"run {request.run_id} or its definition version does not exist",
                type="DefinitionMismatch",
                non_retryable=True,
            )
        actual = definition_hash(row.definition)
        if actual != row.definition_hash:
            raise ApplicationError(
                f"definition {row.workflow_id} v{row.workflow_version} hashes to {actual}, "
                f"but the run was pinned to {row.definition_hash}",
                type="DefinitionMismatch",
                non_retryable=True,
            )
        loaded = c.LoadedRun(
            workflow_id=row.workflow_id,
            workflow_version=row.workflow_version,
            definition=row.definition,
            payload=row.payload,
        )
        # A payload the converter cannot encode (e.g. nested too deep) would fail after we return, unguarded.
        c.ensure_transportable(loaded)
        if request.first_execution:
            metrics.RUNS_STARTED.inc()
        return loaded

    @activity.defn(name=c.PROJECT)
    @failures.guarded(failures.PROJECTION_ERROR)
    async def project(self, projection: c.Projection) -> None:
        """Write a projection."""
        async with self.pool.acquire() as conn:
            redactor = await self._redactors.get(conn, tenant=projection.tenant, run_id=projection.run_id)
            await projections.apply(conn, projection, redactor=redactor)
        _count(projection)

    @activity.defn(name=c.RUN_ACTION)
    @failures.guarded(failures.LEDGER_ERROR)
    async def run_action(self, request: c.ActionRequest) -> c.ActionOutcome:
        """Project what came before, then run one action attempt through the ledger.

        Business failures are returned (the interpreter owns retries); only infrastructure failures
        raise, so Temporal retries the activity until the database is back. A projection Postgres refuses
        is a ``ProjectionError``, a refused ledger write or an outcome that cannot be encoded a ``LedgerError``.
        """
        with log_context(run_id=request.run_id, workflow_id=request.workflow_id, tenant=request.tenant):
            return await self._run_action(request)

    async def _run_action(self, request: c.ActionRequest) -> c.ActionOutcome:
        effect = request.action
        spec = self._known_spec(effect.action, effect.version)
        if spec is not None and spec.is_pure(effect.input) and projections.in_one_statement(request.projection):
            return await self._run_pure(request, spec)
        async with self.pool.acquire() as conn:
            redactor = await self._redactors.get(conn, tenant=request.tenant, run_id=request.run_id)
            begun = await self._claim_in_one_statement(conn, request, redactor)
            if begun is None:
                # One transaction, so one commit (WAL flush) for the projection and the ledger claim together.
                async with conn.transaction():
                    with failures.guard(failures.PROJECTION_ERROR):
                        await projections.apply(conn, request.projection, redactor=redactor)
                    begun = await invocations.begin(
                        conn,
                        tenant=request.tenant,
                        idempotency_key=effect.idempotency_key,
                        run_id=request.run_id,
                        seq=effect.seq,
                        step_path=effect.path,
                        action=effect.action,
                        action_version=effect.version,
                        input_json=effect.input,
                        redactor=redactor,
                        keyring=self.keyring,
                    )
        _count(request.projection)  # once written: a failed write is retried, not counted twice
        if begun.invocation_id is None:
            return _encodable(ActionSucceeded(output=begun.stored_output))
        invocation_id = begun.invocation_id
        # Lines are numbered per attempt, so a redelivered attempt rewrites the same keys and adds none.
        line_numbers = itertools.count(1)

        async def log(level: str, message: str) -> None:
            await logs.append(
                self.pool,
                tenant=request.tenant,
                run_id=request.run_id,
                step_path=effect.path,
                level=level,
                message=message,
                invocation_id=invocation_id,
                attempt=effect.attempt,
                line_no=next(line_numbers),
                redactor=redactor,
            )

        ctx = self._action_context(request, log, invocation_id=invocation_id)
        try:
            spec = self.registry.get(effect.action, effect.version)
            with _heartbeating():
                output = await invoke(spec, ctx, effect.input)
        except ActionError as exc:
            error = {"category": str(exc.category), "message": exc.message, "details": exc.details}
            await invocations.finish(
                self.pool,
                tenant=request.tenant,
                invocation_id=invocation_id,
                error=error,
                redactor=redactor,
                keyring=self.keyring,
            )
            return _encodable(ActionFailed(category=str(exc.category), message=exc.message, details=exc.details))
        await invocations.finish(
            self.pool,
            tenant=request.tenant,
            invocation_id=invocation_id,
            output=output,
            redactor=redactor,
            keyring=self.keyring,
        )
        return _encodable(ActionSucceeded(output=output))

    def _action_context(
        self, request: c.ActionRequest, log: Callable[[str, str], Awaitable[None]], *, invocation_id: int | None = None
    ) -> ActionContext:
        """What the action of ``request`` sees: its run, step, attempt, key, the pool, ``log``, the HTTP allowlist."""
        effect = request.action
        return ActionContext(
            tenant=request.tenant,
            run_id=request.run_id,
            workflow_id=request.workflow_id,
            step_path=effect.path,
            step_id=effect.step_id,
            attempt=effect.attempt,
            idempotency_key=effect.idempotency_key,
            db=self.pool,
            log=log,
            http_allowed_hosts=self.http_allowed_hosts,
            invocation_id=invocation_id,
        )

    def _known_spec(self, name: str, version: int) -> ActionSpec | None:
        """The registered spec, or None (an unknown action fails inside the ledger, as it always did)."""
        return self.registry.get(name, version) if self.registry.exists(name, version) else None

    async def _claim_in_one_statement(
        self, conn: asyncpg.Connection, request: c.ActionRequest, redactor: Redactor
    ) -> invocations.Begun | None:
        """The projection and the claim in one round trip (no BEGIN/COMMIT), or None to take the transactional path.

        None too when Postgres refused the statement for good: the slower path then fails the same way,
        attributed to the projection or to the ledger as the activity promises. A transient fault raises,
        and Temporal retries the attempt.
        """
        effect = request.action
        if not projections.in_one_statement(request.projection):
            return None
        try:
            return await projections.apply_and_claim(
                conn,
                request.projection,
                idempotency_key=effect.idempotency_key,
                seq=effect.seq,
                step_path=effect.path,
                action=effect.action,
                action_version=effect.version,
                input_json=effect.input,
                redactor=redactor,
                keyring=self.keyring,
            )
        except Exception as exc:
            if failures.is_transient(exc):
                raise
            return None

    async def _run_pure(self, request: c.ActionRequest, spec: ActionSpec) -> c.ActionOutcome:
        """Run a pure action first, then write the projection and the attempt's ledger row in one statement.

        Running a pure action again has no effect outside the run, so it needs no STARTED claim before it runs:
        a worker that dies mid-attempt left nothing, and the retried attempt writes everything once. Its log
        lines are held until then and written with the ledger row (in the same transaction), keyed by it. A
        key that already succeeded (a redelivered attempt) keeps and hands back its first output. A slow action
        (past ``PROJECT_EARLY_AFTER``) has its projection written on its own meanwhile, so the read-model shows
        the step the run is on.
        """
        effect = request.action
        redactor = await self._redactors.get(self.pool, tenant=request.tenant, run_id=request.run_id)
        lines: list[tuple[str, str]] = []

        async def log(level: str, message: str) -> None:
            lines.append((level, message))

        ctx = self._action_context(request, log)
        output: Any = None
        error: dict[str, Any] | None = None
        # A slow action must not hide where the run is: past PROJECT_EARLY_AFTER the projection goes on its own.
        early: asyncio.Task[None] | None = None

        def project_early() -> None:
            nonlocal early
            early = asyncio.ensure_future(self._project_alone(request.projection, redactor))

        timer = asyncio.get_running_loop().call_later(PROJECT_EARLY_AFTER, project_early)
        try:
            with _heartbeating():
                output = await invoke(spec, ctx, effect.input)
        except ActionError as exc:
            error = {"category": str(exc.category), "message": exc.message, "details": exc.details}
        except asyncio.CancelledError:
            # The attempt ends unrecorded (its run canceled, or the worker stopping); the steps before it must
            # still reach the read-model, as they did when they were written before the action ran.
            with contextlib.suppress(Exception):
                await (early or self._project_alone(request.projection, redactor))
            raise
        finally:
            timer.cancel()
        if early is not None:
            await early  # a refused projection fails the attempt as a ProjectionError, a transient fault retries it
        async with self.pool.acquire() as conn:
            begun = await self._record_pure(
                conn,
                request,
                None if early is not None else request.projection,
                redactor,
                output=output,
                error=error,
                lines=lines,
            )
        _count(request.projection)  # once written: a failed write is retried, not counted twice
        if begun.invocation_id is None:
            return _encodable(ActionSucceeded(output=begun.stored_output))
        if error is not None:
            return _encodable(
                ActionFailed(category=error["category"], message=error["message"], details=error["details"])
            )
        return _encodable(ActionSucceeded(output=output))

    async def _project_alone(self, projection: c.Projection, redactor: Redactor) -> None:
        """Write a projection on its own (a pure action that is slow, or whose attempt was canceled)."""
        async with self.pool.acquire() as conn:
            with failures.guard(failures.PROJECTION_ERROR):
                await projections.apply(conn, projection, redactor=redactor)

    async def _record_pure(
        self,
        conn: asyncpg.Connection,
        request: c.ActionRequest,
        projection: c.Projection | None,
        redactor: Redactor,
        *,
        output: Any,
        error: dict[str, Any] | None,
        lines: list[tuple[str, str]],
    ) -> invocations.Begun:
        """The projection (None: already written), the pure attempt's ledger row and its log lines: one statement
        when Postgres takes it.

        A statement refused for good is written again part by part in one transaction, so the failure is
        attributed to the projection or to the ledger as the activity promises; a transient fault raises.
        """
        effect = request.action
        ledger: dict[str, Any] = {
            "tenant": request.tenant,
            "run_id": request.run_id,
            "idempotency_key": effect.idempotency_key,
            "seq": effect.seq,
            "step_path": effect.path,
            "action": effect.action,
            "action_version": effect.version,
            "input_json": effect.input,
            "output": output,
            "error": error,
            "redactor": redactor,
            "keyring": self.keyring,
        }
        try:
            # Without log lines one statement is its own transaction: one round trip, one commit.
            async with conn.transaction() if lines else contextlib.nullcontext():
                begun = await projections.apply_and_record(conn, projection, **ledger)
                await self._write_lines(conn, request, begun, lines, redactor)
            return begun
        except Exception as exc:
            if failures.is_transient(exc):
                raise
        async with conn.transaction():
            if projection is not None:
                with failures.guard(failures.PROJECTION_ERROR):
                    await projections.apply(conn, projection, redactor=redactor)
            begun = await projections.apply_and_record(conn, None, **ledger)
            await self._write_lines(conn, request, begun, lines, redactor)
        return begun

    @staticmethod
    async def _write_lines(
        conn: asyncpg.Connection,
        request: c.ActionRequest,
        begun: invocations.Begun,
        lines: list[tuple[str, str]],
        redactor: Redactor,
    ) -> None:
        """A pure attempt's held log lines, numbered and keyed like the lines of a claimed attempt."""
        if not lines or begun.invocation_id is None:
            return  # an attempt that lost to an earlier success adds no lines: that success wrote its own
        effect = request.action
        await conn.executemany(
            logs.APPEND,
            [
                (
                    request.tenant,
                    request.run_id,
                    effect.path,
                    level,
                    redactor.value(message),
                    begun.invocation_id,
                    effect.attempt,
                    number,
                )
                for number, (level, message) in enumerate(lines, start=1)
            ],
        )

    @activity.defn(name=c.CREATE_CHILD_RUN)
    @failures.guarded(failures.CHILD_START_ERROR)
    async def create_child_run(self, request: c.ChildRunRequest) -> c.ChildRun:
        """Create the child's run row (parent/root linkage) unless it exists; report why it cannot."""
        async with self.pool.acquire() as conn:
            version = await definitions.get_version(
                conn, tenant=request.tenant, workflow_id=request.workflow_id, version=request.workflow_version
            )
            if version is None:
                wanted = "latest" if request.workflow_version is None else f"v{request.workflow_version}"
                return c.ChildRun(
                    run_id=request.child_run_id,
                    error=f"child workflow {request.workflow_id} ({wanted}) is not published",
                )
            try:
                check_payload(version.definition, request.payload)
            except PayloadRejected as exc:
                return c.ChildRun(run_id=request.child_run_id, error=f"child payload rejected: {exc}")
            await runs.insert_child(
                conn,
                tenant=request.tenant,
                run_id=request.child_run_id,
                parent_run_id=request.parent_run_id,
                version=version,
                payload=request.payload,
                step_path=request.step_path,
                keyring=self.keyring,
            )
        return c.ChildRun(
            run_id=request.child_run_id,
            workflow_version=version.version,
            loaded=preloaded(version, request.payload),
        )

    @activity.defn(name=c.FAIL_RUN)
    @failures.guarded(failures.FAIL_RUN_ERROR)
    async def fail_run(self, request: c.FailRunRequest) -> None:
        """The last-resort projection: the run row FAILED with a sanitised error, open waits/tasks CANCELED.

        Every string of the error is sanitised and the JSON is ASCII, so what the run carried cannot make
        this write fail; only an unreachable database can, and that is retried.
        """
        error = _sanitised(request.error)
        async with self.pool.acquire() as conn:
            redactor = await self._redactors.get(conn, tenant=request.tenant, run_id=request.run_id)
            await projections.fail_run(
                conn,
                tenant=request.tenant,
                run_id=request.run_id,
                error=error,
                completed_at=request.completed_at,
                redactor=redactor,
                temporal_run_id=None if request.execution is None else request.execution.temporal_run_id,
            )
        if request.execution is not None and request.execution.first_execution:
            metrics.RUNS_STARTED.inc()  # it failed before its first projection, which counts it otherwise
        metrics.RUNS_FINISHED.labels(status="FAILED").inc()

    @activity.defn(name=c.LAUNCH_SCHEDULED_RUN)
    @failures.guarded(SCHEDULED_LAUNCH_REFUSED)
    async def launch_scheduled_run(self, request: c.LaunchScheduledRequest) -> str:
        """Start the run of one schedule action through the launcher (idempotent on the launcher's id)."""
        return await scheduled_launch.launch_scheduled_run(self.pool, activity.client(), request, keyring=self.keyring)


def _encodable(outcome: c.ActionOutcome) -> c.ActionOutcome:
    """The outcome, once checked to cross to the workflow: one the converter cannot carry must not retry forever."""
    c.ensure_transportable(outcome)
    return outcome


def _sanitised(error: dict[str, Any]) -> dict[str, str]:
    """The error's category, message and step path only, each a sanitised, bounded string."""
    kept = {
        "category": str(error.get("category") or "RunFailed"),
        "message": str(error.get("message") or "the run could not continue"),
    }
    if isinstance(error.get("stepPath"), str):
        kept["stepPath"] = error["stepPath"]
    return {key: failures.sanitise(value) for key, value in kept.items()}
