"""The one Temporal workflow: it loads a run's pinned definition and drives the interpreter.

Every decision is made by the pure interpreter on the workflow clock; side effects happen only in
activities. Step records produced by pure steps ride along with the next activity, so a step costs
no extra round trip.
"""

import asyncio
import contextlib
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, NoReturn, cast

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError
from temporalio.exceptions import CancelledError as TemporalCancelledError

with workflow.unsafe.imports_passed_through():
    from engine import expressions
    from engine.dsl.models import Definition
    from engine.interpreter.effects import (
        ActionFailed,
        ActionSucceeded,
        Checkpoint,
        ChildFailed,
        ChildSucceeded,
        Finished,
        HumanTask,
        Outcome,
        RunAction,
        Sleep,
        StartChild,
        TimerFired,
        WaitEvent,
        WaitResolved,
        WaitTimedOut,
    )
    from engine.interpreter.errors import InterpreterCorruption
    from engine.interpreter.machine import Interpreter
    from engine.interpreter.matching import mismatch
    from engine.interpreter.state import InterpreterState
    from engine.temporal import MAX_CHILD_DEPTH, TASK_QUEUE, WORKFLOW_NAME, workflow_id_for_run
    from engine.temporal import contracts as c
    from engine.temporal.visibility import run_memo, run_search_attributes

CHECKPOINT_EVERY = 250
"""Continue-as-new after this many interpreted steps, carrying the interpreter state."""

# Projection and bookkeeping activities retry until the database answers: nothing may be lost.
_INFRA_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200), backoff_coefficient=2.0, maximum_interval=timedelta(seconds=30)
)
# Loading retries until the database answers too, except when the pinned definition is wrong: that never heals.
_LOAD_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    non_retryable_error_types=["DefinitionMismatch"],
)
_LOCAL_TIMEOUT = timedelta(seconds=30)
_CANCELED = {"category": "Canceled", "message": "canceled by request"}
_ACTION_TIMEOUT = timedelta(minutes=5)
# Actions heartbeat every few seconds; a silent one means its worker died and the attempt is retried.
_ACTION_HEARTBEAT_TIMEOUT = timedelta(seconds=20)
# Launching a scheduled run retries while Postgres or Temporal is away, but not past the deadline: with the
# schedule's SKIP overlap policy a launcher that never ends would skip every later action.
_LAUNCH_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    non_retryable_error_types=["ScheduledLaunchRefused"],
)
_LAUNCH_TIMEOUT = timedelta(seconds=30)
_LAUNCH_DEADLINE = timedelta(minutes=15)
_SCHEDULED_START_TIME = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")
"""Set by Temporal on every workflow a schedule starts: the action's nominal time (before jitter)."""
_PROJECT_NON_MATCHES = "project-non-matching-events"
"""Patch id: an event wait projects a non-matching delivery at once (histories without it replay as before)."""
_KEEP_EVENTS_OF_THE_OPENING_TASK = "keep-events-of-the-opening-task"
"""Patch id: opening an event wait keeps the events delivered in the same workflow task.

The wait row commits inside the task that opens the wait, so ingress can signal before that task
completes; if its worker dies, the retried task is handed the signal first and must not drop it.
"""


def _child_visibility(tenant: str, workflow_id: str, version: int | None) -> dict[str, Any]:
    """A child run's memo and search attributes, like a launched run's (trigger ``child``).

    Replay-safe without a patch: Temporal checks a child start by its workflow type and id, not these.
    A child row recorded without its version (histories from before it was returned) gets neither. The
    worker's codec encrypts this memo like every payload of a command; the search attributes stay readable.
    """
    if version is None:
        return {}
    fields: dict[str, Any] = {"tenant": tenant, "workflow_id": workflow_id, "version": version, "trigger": "child"}
    return {"memo": run_memo(**fields), "search_attributes": run_search_attributes(**fields)}


@workflow.defn(name=WORKFLOW_NAME)
class RunWorkflow:
    """Executes one authored run; continues as new every ``CHECKPOINT_EVERY`` steps."""

    def __init__(self) -> None:
        # Events received since the current event wait was announced; older ones can never match.
        self._events: list[c.EventSignal] = []
        # The history length each of ``_events`` arrived at: equal lengths mean the same workflow task.
        self._event_arrivals: list[int] = []
        # Events that resolved a wait: a redelivery of one of them must not satisfy a later wait.
        self._consumed_event_ids: set[str] = set()
        self._completions: dict[str, c.TaskCompletion] = {}
        self._interp: Interpreter | None = None
        self._open_wait: c.WaitRecord | None = None
        self._open_task: c.TaskRecord | None = None
        # Closed waits and tasks not yet projected: they ride along with the next projection.
        self._resolved_waits: list[c.WaitRecord] = []
        self._resolved_tasks: list[c.TaskRecord] = []
        # The latest event that reached the current event wait without satisfying it.
        self._non_match: c.NonMatch | None = None
        # Which Temporal run executes this run, until the first projection records it (load_run skipped).
        self._execution_note: c.ExecutionNote | None = None

    # -- signals and queries ----------------------------------------------------------------------

    @workflow.signal
    def event(self, signal: c.EventSignal) -> None:
        """An event for this run's tenant, name and key; ignored unless the current wait matches."""
        if signal.event_id not in self._consumed_event_ids:
            self._events.append(signal)
            self._event_arrivals.append(workflow.info().get_current_history_length())

    @workflow.signal
    def complete_task(self, completion: c.TaskCompletion) -> None:
        """A human task of this run was completed; the first completion of a task wins, later ones are ignored.

        The service commits the first completion in Postgres before signaling and re-sends it until it
        lands, so a re-sent or competing completion must not replace the decision already taken.
        """
        self._completions.setdefault(completion.task_id, completion)

    @workflow.query
    def current_step(self) -> str | None:
        """Address of the step being executed."""
        return self._interp.current_path if self._interp else None

    @workflow.query
    def current_wait(self) -> dict[str, Any] | None:
        """The wait the run is blocked on, if any."""
        return self._open_wait.model_dump(mode="json") if self._open_wait else None

    @workflow.query
    def summary(self) -> dict[str, Any]:
        """Interpreter progress: current step, steps so far, stack depth, wait."""
        if self._interp is None:
            return {"loaded": False}
        state = self._interp.state
        return {
            "loaded": True,
            "current_step": self._interp.current_path,
            "step_rows": state.step_rows,
            "depth": len(state.frames),
            "wait": self.current_wait(),
            "finished": state.finished.status if state.finished else None,
        }

    # -- main loop --------------------------------------------------------------------------------

    @workflow.run
    async def run(self, run_input: c.RunInput) -> c.RunResult:
        """Run the interpreter to completion, failure or cancellation."""
        self._input = run_input
        if run_input.scheduled is not None:
            return await self._launch(run_input.scheduled)
        loaded = run_input.loaded
        if loaded is not None and workflow.cancellation_reason() is None:
            # Handed over by the starter (decided from the input and this first activation alone, so replay-safe
            # without a patch): no load_run local activity; what it recorded besides (the Temporal run id) goes
            # with the first projection. A run canceled before any worker ran it still loads, so it ends as such
            # a run always did: CANCELED with no step (the cancellation lands on the load).
            self._execution_note = c.ExecutionNote(
                temporal_run_id=workflow.info().run_id, first_execution=run_input.checkpoint is None
            )
        else:
            loaded = await self._load(run_input)
        self._loaded = loaded
        interp = Interpreter(
            Definition.model_validate(loaded.definition),
            run_input.checkpoint or InterpreterState(),
            payload=loaded.payload,
            meta={
                "run_id": run_input.run_id,
                "workflow_id": loaded.workflow_id,
                "workflow_version": loaded.workflow_version,
                "tenant": run_input.tenant,
            },
            env=expressions.EvalEnv(now=workflow.now, random=lambda: workflow.random().random()),
            checkpoint_every=CHECKPOINT_EVERY,
        )
        self._interp = interp
        try:
            return await self._drive(interp)
        except asyncio.CancelledError:
            await self._project_cancel(interp)
            raise

    async def _load(self, run_input: c.RunInput) -> c.LoadedRun:
        """The run's pinned definition and input through the ``load_run`` local activity (which also records
        the Temporal run id): runs started without them (old histories, children of old parents)."""
        try:
            loaded: c.LoadedRun = await workflow.execute_local_activity(
                c.LOAD_RUN,
                c.LoadRunRequest(
                    tenant=run_input.tenant,
                    run_id=run_input.run_id,
                    temporal_run_id=workflow.info().run_id,
                    first_execution=run_input.checkpoint is None,
                ),
                result_type=c.LoadedRun,
                start_to_close_timeout=_LOCAL_TIMEOUT,
                retry_policy=_LOAD_RETRY,
            )
        except (ActivityError, ApplicationError) as exc:
            await self._fail(_failure_of(exc, default_category="LoadError"))
        except asyncio.CancelledError:
            # Typical for a stuck run canceled before any worker picked it up: it ends CANCELED too.
            await self._project(c.RunPatch(status="CANCELED", error=_CANCELED, completed_at=workflow.now()))
            raise
        return loaded

    async def _launch(self, launch: c.ScheduledLaunch) -> c.RunResult:
        """Launcher mode: start the run a schedule's action stands for; its id is the result's ``output.runId``.

        The run itself is an ordinary run workflow with its own id, started by the same launcher as a
        manual start; this workflow only carries the action (and its nominal time) to it.
        """
        info = workflow.info()
        run_id: str = await workflow.execute_activity(
            c.LAUNCH_SCHEDULED_RUN,
            c.LaunchScheduledRequest(
                tenant=self._input.tenant,
                launch=launch,
                launcher_workflow_id=info.workflow_id,
                nominal_time=info.typed_search_attributes.get(_SCHEDULED_START_TIME),
            ),
            result_type=str,
            start_to_close_timeout=_LAUNCH_TIMEOUT,
            schedule_to_close_timeout=_LAUNCH_DEADLINE,
            retry_policy=_LAUNCH_RETRY,
        )
        return c.RunResult(status="SUCCEEDED", payload={}, vars={}, output={"runId": run_id})

    async def _drive(self, interp: Interpreter) -> c.RunResult:
        try:
            try:
                return await self._interpret(interp)
            except InterpreterCorruption as exc:
                # Never caught by the definition's tryCatch: the run fails, with the state it had.
                error = {"category": "InterpreterError", "message": str(exc), "stepPath": interp.current_path}
                return await self._finish(interp, Finished(status="FAILED", vars=interp.state.vars, error=error))
        except _CannotContinue as exc:
            failure = exc.failure
            if interp.current_path is not None:
                failure["stepPath"] = interp.current_path
            await self._fail(failure)

    async def _interpret(self, interp: Interpreter) -> c.RunResult:
        while True:
            effect = interp.next_effect()
            if isinstance(effect, Finished):
                return await self._finish(interp, effect)
            if isinstance(effect, Checkpoint):
                await self._flush(interp, status="RUNNING")
                interp.state.steps_since_checkpoint = 0
                resume = c.RunInput(
                    tenant=self._input.tenant,
                    run_id=self._input.run_id,
                    checkpoint=interp.state,
                    depth=self._input.depth,
                    # The next execution skips load_run too (its own input decides, so replay-safe).
                    loaded=self._loaded,
                )
                _transportable(resume)
                workflow.continue_as_new(resume)
            interp.resume(await self._perform(interp, effect))

    async def _perform(self, interp: Interpreter, effect: Any) -> Outcome:
        if isinstance(effect, RunAction):
            return await self._run_action(interp, effect)
        if isinstance(effect, Sleep):
            return await self._sleep(interp, effect)
        if isinstance(effect, WaitEvent):
            return await self._wait_event(interp, effect)
        if isinstance(effect, HumanTask):
            return await self._human_task(interp, effect)
        if isinstance(effect, StartChild):
            return await self._child(interp, effect)
        raise InterpreterCorruption(f"unknown effect {effect!r}")

    # -- effects ----------------------------------------------------------------------------------

    async def _run_action(self, interp: Interpreter, effect: RunAction) -> Outcome:
        request = c.ActionRequest(
            tenant=self._input.tenant,
            run_id=self._input.run_id,
            workflow_id=self._loaded.workflow_id,
            action=effect,
            projection=self._projection(interp, status="RUNNING"),
        )
        with _for_good():
            _transportable(request)
            outcome: ActionSucceeded | ActionFailed = await workflow.execute_activity(
                c.RUN_ACTION,
                request,
                result_type=cast(type, c.ActionOutcome),
                start_to_close_timeout=_ACTION_TIMEOUT,
                heartbeat_timeout=_ACTION_HEARTBEAT_TIMEOUT,
                retry_policy=_INFRA_RETRY,
            )
        self._execution_note = None  # written with that projection (kept until then, for the last resort)
        return outcome

    async def _sleep(self, interp: Interpreter, effect: Sleep) -> Outcome:
        now = workflow.now()
        if not effect.is_wait:
            await self._flush(interp)
            await workflow.sleep(timedelta(milliseconds=effect.duration_ms))
            return TimerFired()
        record = c.WaitRecord(
            seq=effect.seq,
            step_path=effect.path,
            wait_type="time",
            status="WAITING",
            timeout_at=now + timedelta(milliseconds=effect.duration_ms),
        )
        await self._open(interp, record)
        await workflow.sleep(timedelta(milliseconds=effect.duration_ms))
        self._close(status="RESOLVED")
        return TimerFired()

    async def _wait_event(self, interp: Interpreter, effect: WaitEvent) -> Outcome:
        timeout = None if effect.timeout_ms is None else timedelta(milliseconds=effect.timeout_ms)
        record = c.WaitRecord(
            seq=effect.seq,
            step_path=effect.path,
            wait_type="event",
            status="WAITING",
            event_name=effect.event_name,
            correlation_key=effect.correlation_key,
            filters=effect.filters,
            timeout_at=None if timeout is None else workflow.now() + timeout,
        )
        # Only events that arrive once this wait is announced can satisfy it — and those delivered in the
        # task announcing it, which ingress may have sent as soon as the wait row committed.
        self._keep_events_of_this_task()
        self._non_match = None
        await self._open(interp, record)
        # Runs recorded before a non-match was projected at once replay as they ran: one timer, no extra write.
        project_non_matches = workflow.patched(_PROJECT_NON_MATCHES)
        deadline = None if timeout is None else workflow.now() + timeout
        matched: list[c.EventSignal] = []
        checked = 0
        unprojected = False

        def ready() -> bool:
            nonlocal checked, unprojected
            # Signals are only appended and matching is pure, so each one needs deciding once.
            for signal in self._events[checked:]:
                checked += 1
                reason = mismatch(
                    effect, event_name=signal.event_name, correlation_key=signal.correlation_key, payload=signal.payload
                )
                if reason is None:
                    matched.append(signal)
                    return True
                self._non_match = c.NonMatch(event_id=signal.event_id, reason=reason, at=workflow.now())
                unprojected = True
            return project_non_matches and unprojected

        remaining = timeout
        while True:
            try:
                await workflow.wait_condition(ready, timeout=remaining)
            except TimeoutError:
                self._close(status="TIMED_OUT")
                return WaitTimedOut()
            if matched:
                break
            # Woken by an event that did not match: say why while the run keeps waiting.
            unprojected = False
            if self._open_wait is not None:
                self._open_wait = self._open_wait.model_copy(update={"non_match": self._non_match})
                await self._flush(interp, status="WAITING", waits=[self._open_wait])
            if deadline is not None:
                remaining = max(deadline - workflow.now(), timedelta(milliseconds=1))
        self._consumed_event_ids.add(matched[0].event_id)
        self._events.clear()
        self._event_arrivals.clear()
        self._close(status="RESOLVED", payload=matched[0].payload, matched_event_id=matched[0].event_id)
        return WaitResolved(value=matched[0].payload)

    def _keep_events_of_this_task(self) -> None:
        """Drop the events received in earlier workflow tasks; keep those of this one (see the patch id)."""
        if not workflow.patched(_KEEP_EVENTS_OF_THE_OPENING_TASK):
            self._events.clear()
            self._event_arrivals.clear()
            return
        now = workflow.info().get_current_history_length()
        kept = [(signal, at) for signal, at in zip(self._events, self._event_arrivals, strict=True) if at == now]
        self._events = [signal for signal, _ in kept]
        self._event_arrivals = [at for _, at in kept]

    async def _human_task(self, interp: Interpreter, effect: HumanTask) -> Outcome:
        task_id = str(workflow.uuid4())
        timeout = None if effect.timeout_ms is None else timedelta(milliseconds=effect.timeout_ms)
        timeout_at = None if timeout is None else workflow.now() + timeout
        task = c.TaskRecord(
            task_id=task_id,
            seq=effect.seq,
            step_path=effect.path,
            status="OPEN",
            task_type=effect.task_type,
            title=effect.title,
            description=effect.description,
            form_schema=effect.form_schema,
            context_data=effect.context_data,
            timeout_at=timeout_at,
        )
        wait = c.WaitRecord(
            seq=effect.seq,
            step_path=effect.path,
            wait_type="human",
            status="WAITING",
            event_name=effect.task_type,
            correlation_key=task_id,
            timeout_at=timeout_at,
        )
        await self._open(interp, wait, task)
        try:
            await workflow.wait_condition(lambda: task_id in self._completions, timeout=timeout)
        except TimeoutError:
            self._close(status="TIMED_OUT")
            return WaitTimedOut()
        done = self._completions[task_id]
        self._close(status="RESOLVED", payload=done.response, completed_by=done.completed_by)
        return WaitResolved(value=done.response)

    async def _child(self, interp: Interpreter, effect: StartChild) -> Outcome:
        depth = self._input.depth + 1
        if depth > MAX_CHILD_DEPTH:
            # Refused before any row or child exists; the interpreter records it as a catchable step failure.
            return ChildFailed(
                category="ChildDepthExceeded",
                message=f"calling {effect.workflow_id} would nest {depth} child runs deep; "
                f"the limit is {MAX_CHILD_DEPTH}",
            )
        await self._flush(interp)
        request = c.ChildRunRequest(
            tenant=self._input.tenant,
            parent_run_id=self._input.run_id,
            child_run_id=str(workflow.uuid4()),
            workflow_id=effect.workflow_id,
            workflow_version=effect.workflow_version,
            payload=effect.payload,
            step_path=effect.path,
        )
        with _for_good():
            _transportable(request)
            child: c.ChildRun = await workflow.execute_local_activity(
                c.CREATE_CHILD_RUN,
                request,
                result_type=c.ChildRun,
                start_to_close_timeout=_LOCAL_TIMEOUT,
                retry_policy=_INFRA_RETRY,
            )
        if child.error is not None:
            return ChildFailed(category="ChildWorkflowError", message=child.error)
        try:
            result: c.RunResult = await workflow.execute_child_workflow(
                RunWorkflow.run,
                c.RunInput(tenant=self._input.tenant, run_id=child.run_id, depth=depth, loaded=child.loaded),
                id=workflow_id_for_run(child.run_id),
                task_queue=TASK_QUEUE,
                **_child_visibility(self._input.tenant, effect.workflow_id, child.workflow_version),
            )
        except ChildWorkflowError as exc:
            if workflow.cancellation_reason() is not None:
                # This run was canceled, and the SDK canceled the child and waited for it: the run ends
                # CANCELED through run()'s cancellation path, never as a (catchable) child failure.
                raise asyncio.CancelledError from exc
            cause = exc.cause
            if isinstance(cause, ApplicationError):
                return ChildFailed(category=cause.type or "ChildWorkflowError", message=cause.message)
            if isinstance(cause, TemporalCancelledError):
                return ChildFailed(category="ChildCanceled", message=f"child run {child.run_id} was canceled")
            return ChildFailed(category="ChildWorkflowError", message=str(cause or exc))
        return ChildSucceeded(result=result.model_dump(mode="json", include={"payload", "vars", "output"}))

    # -- waits ------------------------------------------------------------------------------------

    async def _open(self, interp: Interpreter, wait: c.WaitRecord, task: c.TaskRecord | None = None) -> None:
        """Announce a wait (and its task) in the read-model before blocking on it."""
        self._open_wait, self._open_task = wait, task
        await self._flush(interp, status="WAITING", waits=[wait], tasks=[task] if task else [])

    def _close(
        self, *, status: str, payload: Any = None, completed_by: str | None = None, matched_event_id: str | None = None
    ) -> None:
        """Close the open wait (and task); the change is projected with the next write."""
        now = workflow.now()
        if self._open_wait is not None:
            update: dict[str, Any] = {
                "status": status,
                "payload": payload,
                "resolved_at": now,
                "matched_event_id": matched_event_id,
            }
            if self._non_match is not None:
                update["non_match"] = self._non_match
            self._resolved_waits.append(self._open_wait.model_copy(update=update))
        self._non_match = None
        if self._open_task is not None:
            task_status = {"RESOLVED": "COMPLETED"}.get(status, status)
            self._resolved_tasks.append(
                self._open_task.model_copy(
                    update={
                        "status": task_status,
                        "response": payload,
                        "completed_by": completed_by,
                        "completed_at": now,
                    }
                )
            )
        self._open_wait, self._open_task = None, None

    # -- projections ------------------------------------------------------------------------------

    def _projection(
        self,
        interp: Interpreter,
        *,
        status: c.RunStatus | None,
        waits: list[c.WaitRecord] | None = None,
        tasks: list[c.TaskRecord] | None = None,
        final: tuple[Any, dict[str, Any] | None] | None = None,
    ) -> c.Projection:
        """Everything not yet projected; ``final`` is (output, error) when the run is over."""
        state = interp.state
        patch = c.RunPatch(status=status, current_step_path=interp.current_path, step_count=state.step_rows)
        if state.vars_dirty or final is not None:
            patch.vars = state.vars
            state.vars_dirty = False
        if final is not None:
            patch.output, patch.error = final
            patch.completed_at = workflow.now()
        projection = c.Projection(
            tenant=self._input.tenant,
            run_id=self._input.run_id,
            steps=interp.drain_records(),
            waits=[*self._resolved_waits, *(waits or [])],
            tasks=[*self._resolved_tasks, *(tasks or [])],
            run=patch,
            execution=self._execution_note,
        )
        self._resolved_waits, self._resolved_tasks = [], []
        return projection

    async def _flush(
        self,
        interp: Interpreter,
        *,
        status: c.RunStatus | None = "RUNNING",
        waits: list[c.WaitRecord] | None = None,
        tasks: list[c.TaskRecord] | None = None,
        final: tuple[Any, dict[str, Any] | None] | None = None,
    ) -> None:
        projection = self._projection(interp, status=status, waits=waits, tasks=tasks, final=final)
        with _for_good():
            _transportable(projection)
            await workflow.execute_local_activity(
                c.PROJECT, projection, start_to_close_timeout=_LOCAL_TIMEOUT, retry_policy=_INFRA_RETRY
            )
        self._execution_note = None

    async def _finish(self, interp: Interpreter, finished: Finished) -> c.RunResult:
        await self._flush(interp, status=finished.status, final=(finished.output, finished.error))
        if finished.status == "FAILED":
            error = finished.error or {}
            raise ApplicationError(
                str(error.get("message", "run failed")),
                error,
                type=str(error.get("category", "WorkflowFailed")),
                non_retryable=True,
            )
        return c.RunResult(status="SUCCEEDED", payload=self._loaded.payload, vars=finished.vars, output=finished.output)

    async def _fail(self, failure: dict[str, str]) -> NoReturn:
        """End the run FAILED through the last-resort projection, then fail the workflow with the same error."""
        await workflow.execute_local_activity(
            c.FAIL_RUN,
            c.FailRunRequest(
                tenant=self._input.tenant,
                run_id=self._input.run_id,
                error=failure,
                completed_at=workflow.now(),
                execution=self._execution_note,
            ),
            start_to_close_timeout=_LOCAL_TIMEOUT,
            retry_policy=_INFRA_RETRY,
        )
        raise ApplicationError(failure["message"], failure, type=failure["category"], non_retryable=True)

    async def _project(self, patch: c.RunPatch) -> None:
        """Project a run-row change on its own (before the interpreter exists)."""
        await workflow.execute_local_activity(
            c.PROJECT,
            c.Projection(tenant=self._input.tenant, run_id=self._input.run_id, run=patch),
            start_to_close_timeout=_LOCAL_TIMEOUT,
            retry_policy=_INFRA_RETRY,
        )

    async def _project_cancel(self, interp: Interpreter) -> None:
        step_path = interp.current_path
        interp.cancel(workflow.now())
        self._close(status="CANCELED")
        error = {**_CANCELED, "stepPath": step_path}
        await self._flush(interp, status="CANCELED", final=(None, error))


class _CannotContinue(Exception):
    """A bookkeeping activity failed for good; the run must end FAILED with ``failure``."""

    def __init__(self, failure: dict[str, str]) -> None:
        super().__init__(failure["message"])
        self.failure = failure


@contextlib.contextmanager
def _for_good() -> Iterator[None]:
    """Turn the final failure of a bookkeeping activity into :class:`_CannotContinue`.

    These activities retry transient faults without end, so one that still failed met a deterministic
    fault (what the run carries cannot be stored or encoded): nothing later could heal it. A failure
    caused by this run's cancellation keeps its shape, so the cancellation path handles it.
    """
    try:
        yield
    except (ActivityError, ApplicationError) as exc:
        cause = exc.cause if isinstance(exc, ActivityError) else exc
        if workflow.cancellation_reason() is not None or isinstance(cause, TemporalCancelledError):
            raise
        raise _CannotContinue(_failure_of(exc, default_category="ActivityError")) from exc


def _transportable(value: Any) -> None:
    """Refuse, as the run's failure, an activity input (or checkpoint) the data converter could not carry.

    Such an input (state nested too deep, built by expressions) would otherwise fail on every attempt:
    in this workflow task when it cannot be encoded, in the activity when it cannot be decoded.
    """
    try:
        c.ensure_transportable(value)
    except ValueError as exc:
        raise _CannotContinue({"category": "ProjectionError", "message": str(exc)[:500]}) from exc


def _failure_of(exc: ActivityError | ApplicationError, *, default_category: str) -> dict[str, str]:
    """The category and message of an activity's final failure (its ``ApplicationError`` type and message)."""
    # Local activity failures surface as the activity's own ApplicationError, remote ones wrapped.
    cause = exc.cause if isinstance(exc, ActivityError) else exc
    if isinstance(cause, ApplicationError):
        return {"category": cause.type or default_category, "message": cause.message}
    return {"category": default_category, "message": str(cause or exc)}
