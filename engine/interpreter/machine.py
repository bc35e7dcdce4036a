"""The deterministic interpreter: walks a definition's steps, evaluates expressions, emits effects.

``next_effect()`` runs every pure step it can (assign, if, loops, try/catch, return) and stops at the
first step that needs the outside world, returning that effect; ``resume(outcome)`` feeds the result
back. Step records accumulate in ``state.outbox`` for the driver to project. Given the same definition,
state, clock and outcomes it always makes the same decisions, so it is safe inside Temporal workflows.
"""

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from engine import expressions
from engine.dsl import models as m
from engine.dsl.paths import PathError, set_path
from engine.interpreter.effects import (
    ActionFailed,
    ActionSucceeded,
    Checkpoint,
    ChildFailed,
    ChildSucceeded,
    Effect,
    Finished,
    HumanTask,
    Outcome,
    RunAction,
    Sleep,
    StartChild,
    StepRecord,
    TimerFired,
    WaitEvent,
    WaitResolved,
    WaitTimedOut,
)
from engine.interpreter.errors import BusinessError, InterpreterCorruption, error_info
from engine.interpreter.state import Frame, InterpreterState, PendingStep

_BRANCHES: dict[str, tuple[str, ...]] = {
    "control.if": ("then", "else"),
    "control.forEach": ("body",),
    "control.tryCatch": ("try", "catch"),
}
_BRANCH_FIELD = {"then": "then", "else": "else_", "body": "body", "try": "try_", "catch": "catch"}


def _blocks(definition: m.Definition) -> tuple[dict[str, list[m.Step]], dict[str, m.Step]]:
    blocks: dict[str, list[m.Step]] = {}
    steps: dict[str, m.Step] = {}

    def walk(block_path: str, block: list[m.Step]) -> None:
        blocks[block_path] = block
        for index, step in enumerate(block):
            path = f"{block_path}[{index}]"
            steps[path] = step
            for branch in _BRANCHES.get(step.type, ()):
                walk(f"{path}.{branch}", list(getattr(step, _BRANCH_FIELD[branch]) or []))

    walk("root.steps", list(definition.steps))
    return blocks, steps


def backoff_ms(policy: m.RetryPolicy, failed_attempt: int) -> int:
    """Delay before the attempt after ``failed_attempt``: backoffMs × multiplier^(n-1), capped at maxDelayMs.

    Grown step by step and capped as it goes, so no policy can overflow.
    """
    delay = float(policy.backoff_ms)
    for _ in range(failed_attempt - 1):
        delay = min(delay * policy.backoff_multiplier, float(policy.max_delay_ms))
    return int(min(delay, policy.max_delay_ms))


class Interpreter:
    """Drives one run of one definition; all mutable progress lives in ``state``."""

    def __init__(
        self,
        definition: m.Definition,
        state: InterpreterState,
        *,
        payload: dict[str, Any],
        meta: Mapping[str, Any],
        env: expressions.EvalEnv,
        checkpoint_every: int | None = None,
    ) -> None:
        self.definition = definition
        self.checkpoint_every = checkpoint_every
        self.state = state
        self.payload = payload
        self.meta = dict(meta)
        self.env = env
        self._blocks, self._steps = _blocks(definition)

    # -- driver API -------------------------------------------------------------------------------

    def next_effect(self) -> Effect:
        """Advance through pure steps until an effect is needed or the run is finished."""
        while True:
            if self.state.finished is not None:
                return self.state.finished
            pending = self.state.pending
            if pending is not None:
                if pending.emitted:
                    raise InterpreterCorruption(f"effect for {pending.path} is still awaiting its outcome")
                pending.emitted = True
                return pending.effect
            if self.checkpoint_every is not None and self.state.steps_since_checkpoint >= self.checkpoint_every:
                return Checkpoint()
            frame = self._top()
            if frame.kind != "block":
                raise InterpreterCorruption(f"container frame {frame.path} on top of the stack")
            block = self._block(frame.path)
            if frame.index >= len(block):
                self._close_block()
                continue
            path = f"{frame.path}[{frame.index}]"
            self.state.steps_since_checkpoint += 1
            try:
                self._enter(block[frame.index], path)
            except BusinessError as exc:
                self._fail(exc.error)

    def resume(self, outcome: Outcome) -> None:
        """Feed back the outcome of the effect last returned by ``next_effect``."""
        pending = self.state.pending
        if pending is None or not pending.emitted:
            raise InterpreterCorruption(f"outcome {outcome.kind} arrived with no effect outstanding")
        step = self._step(pending.path)
        try:
            self._apply_outcome(step, pending, outcome)
        except BusinessError as exc:
            self._fail(exc.error)

    def cancel(self, now: datetime) -> None:
        """Record the open step and every open container as CANCELED; the run is over."""
        pending = self.state.pending
        # An attempt waiting out its backoff has already been recorded FAILED; that record stands.
        if pending is not None and not pending.backing_off:
            self._record(pending, "CANCELED", now)
        self.state.pending = None
        for frame in reversed(self.state.frames):
            if frame.kind != "block":
                self._record_container(frame, "CANCELED", now=now)
        self.state.frames = []

    def drain_records(self) -> list[StepRecord]:
        """Step records produced since the last drain, one per (seq, attempt): the latest wins."""
        latest: dict[tuple[int, int], StepRecord] = {}
        for record in self.state.outbox:
            latest[(record.seq, record.attempt)] = record
        self.state.outbox = []
        return list(latest.values())

    @property
    def current_path(self) -> str | None:
        """Address of the step being executed (or about to be), for queries and projections."""
        if self.state.pending is not None:
            return self.state.pending.path
        for frame in reversed(self.state.frames):
            if frame.kind == "block":
                return f"{frame.path}[{frame.index}]"
        return None

    # -- entering steps ---------------------------------------------------------------------------

    def _enter(self, step: m.Step, path: str) -> None:
        now = self.env.now()
        seq = self._new_seq()
        iteration = self._iteration()
        base = {"seq": seq, "path": path, "step_id": step.id, "step_type": step.type, "iteration": iteration}
        self._emit(StepRecord(attempt=1, status="STARTED", started_at=now, **base))
        self.state.step_rows += 1

        def pending(effect: Effect) -> None:
            self.state.pending = PendingStep(attempt=1, started_at=now, effect=effect, **base)

        def done(status: str = "SUCCEEDED", error: dict[str, Any] | None = None) -> None:
            record = StepRecord(
                attempt=1, status=status, started_at=now, completed_at=self.env.now(), error=error, **base
            )
            self._emit(record)

        try:
            if isinstance(step, m.ActionCallStep):
                pending(self._action_effect(step, path, seq, attempt=1))
            elif isinstance(step, m.AssignStep):
                self._assign(step.assign, path)
                done()
                self._advance()
            elif isinstance(step, m.IfStep):
                branch = "then" if self._truthy(self._resolve(step.condition, path)) else "else"
                self._push_container(Frame(kind="if", path=path, seq=seq, started_at=now))
                self._push_block(f"{path}.{branch}")
            elif isinstance(step, m.ForEachStep):
                items = self._resolve(step.items, path)
                # JSONata semantics: nothing is an empty sequence, one value a sequence of one.
                if items is None:
                    items = []
                elif not isinstance(items, list):
                    items = [items]
                frame = Frame(kind="forEach", path=path, seq=seq, started_at=now, items=items)
                self._push_container(frame)
                self._next_item(frame)
            elif isinstance(step, m.TryCatchStep):
                self._push_container(Frame(kind="try", path=path, seq=seq, started_at=now))
                self._push_block(f"{path}.try")
            elif isinstance(step, m.CallWorkflowStep):
                payload = self._resolve(step.input_mapping, path)
                version = None if step.workflow_version == "latest" else int(step.workflow_version)
                pending(
                    StartChild(
                        seq=seq, path=path, workflow_id=step.workflow_id, workflow_version=version, payload=payload
                    )
                )
            elif isinstance(step, m.ReturnStep):
                output = self._resolve(step.output, path) if step.output is not None else None
                done()
                self._finish_success(output)
            elif isinstance(step, m.TimeWaitStep):
                duration = self._wait_duration(step, path)
                if duration <= 0:
                    if step.assign:
                        self._assign(step.assign, path)
                    done()
                    self._advance()
                else:
                    pending(Sleep(seq=seq, path=path, duration_ms=duration, is_wait=True))
            elif isinstance(step, m.EventWaitStep):
                key = self._resolve(step.correlation_key, path)
                pending(
                    WaitEvent(
                        seq=seq,
                        path=path,
                        event_name=str(self._resolve(step.event_name, path)),
                        correlation_key=None if key is None else str(key),
                        filters=[self._resolve(f.model_dump(by_alias=True), path) for f in step.filters],
                        timeout_ms=self._millis(step.timeout_ms, path, "timeoutMs"),
                    )
                )
            elif isinstance(step, m.HumanTaskStep):
                pending(
                    HumanTask(
                        seq=seq,
                        path=path,
                        task_type=step.task_type,
                        title=self._text(step.title, path, "title"),
                        description=self._optional_text(step.description, path),
                        form_schema=step.form_schema,
                        context_data=self._resolve(step.context_data, path),
                        timeout_ms=self._millis(step.timeout_ms, path, "timeoutMs"),
                    )
                )
            else:
                raise InterpreterCorruption(f"unknown step type {step.type} at {path}")
        except BusinessError as exc:
            done("FAILED", exc.error)
            raise

    def _action_effect(self, step: m.ActionCallStep, path: str, seq: int, *, attempt: int) -> RunAction:
        action_input = self._resolve(step.input, path)
        if step.idempotency_key is None:
            key = f"{self.meta['run_id']}:{seq}"
        else:
            resolved = self._resolve(step.idempotency_key, path)
            if resolved is None or resolved == "":
                # A shared empty key would make unrelated invocations reuse each other's results.
                raise BusinessError.of("ExpressionError", "idempotencyKey evaluated to nothing", path, step.id)
            key = str(resolved)
        return RunAction(
            seq=seq,
            attempt=attempt,
            path=path,
            step_id=step.id,
            action=step.action,
            version=step.version,
            input=action_input,
            idempotency_key=key,
        )

    def _wait_duration(self, step: m.TimeWaitStep, path: str) -> int:
        if step.duration_ms is not None:
            duration = self._millis(step.duration_ms, path, "durationMs")
            if duration is None:
                raise BusinessError.of("ExpressionError", "durationMs evaluated to null", path, step.id)
            return duration
        until = self._resolve(step.until, path)
        try:
            due = datetime.fromisoformat(str(until).replace("Z", "+00:00"))
        except ValueError as exc:
            raise BusinessError.of("ExpressionError", f"until is not an ISO time: {until!r}", path, step.id) from exc
        if due.tzinfo is None:
            raise BusinessError.of("ExpressionError", f"until has no time zone: {until!r}", path, step.id)
        # Rounded up: waking a fraction of a millisecond early would run the next step before `until`.
        return -(-(due - self.env.now()) // timedelta(milliseconds=1))

    # -- outcomes ---------------------------------------------------------------------------------

    def _apply_outcome(self, step: m.Step, pending: PendingStep, outcome: Outcome) -> None:
        now = self.env.now()
        if pending.backing_off:
            if not isinstance(outcome, TimerFired) or not isinstance(step, m.ActionCallStep):
                raise InterpreterCorruption(f"expected the retry timer for {pending.path}, got {outcome.kind}")
            self._next_attempt(step, pending, now)
            return
        self.state.pending = None
        if isinstance(outcome, ActionSucceeded) and isinstance(step, m.ActionCallStep):
            self._save(step.save_as, outcome.output, pending, now)
            self._record(pending, "SUCCEEDED", now)
            self._advance()
        elif isinstance(outcome, ActionFailed) and isinstance(step, m.ActionCallStep):
            self._action_failed(step, pending, outcome, now)
        elif isinstance(outcome, TimerFired) and isinstance(step, m.TimeWaitStep):
            try:
                if step.assign:
                    self._assign(step.assign, pending.path)
            except BusinessError as exc:
                self._record(pending, "FAILED", now, exc.error)
                raise
            self._record(pending, "SUCCEEDED", now)
            self._advance()
        elif isinstance(outcome, WaitResolved) and isinstance(step, m.EventWaitStep | m.HumanTaskStep):
            self._save(step.save_as, outcome.value, pending, now)
            self._record(pending, "SUCCEEDED", now)
            self._advance()
        elif isinstance(outcome, WaitTimedOut) and isinstance(step, m.EventWaitStep | m.HumanTaskStep):
            what = "event" if isinstance(step, m.EventWaitStep) else "human task"
            effect = pending.effect
            timeout_ms = effect.timeout_ms if isinstance(effect, WaitEvent | HumanTask) else None
            error = error_info("TimeoutError", f"{what} wait timed out after {timeout_ms} ms", pending.path, step.id)
            self._record(pending, "FAILED", now, error)
            raise BusinessError(error)
        elif isinstance(outcome, ChildSucceeded) and isinstance(step, m.CallWorkflowStep):
            try:
                for target, source in step.output_mapping.items():
                    value = self._resolve(source, pending.path, context=outcome.result)
                    self._set_var(target, value, pending.path)
            except BusinessError as exc:
                self._record(pending, "FAILED", now, exc.error)
                raise
            self._record(pending, "SUCCEEDED", now)
            self._advance()
        elif isinstance(outcome, ChildFailed) and isinstance(step, m.CallWorkflowStep):
            error = error_info(outcome.category, outcome.message, pending.path, step.id)
            self._record(pending, "FAILED", now, error)
            raise BusinessError(error)
        else:
            raise InterpreterCorruption(f"outcome {outcome.kind} does not fit step {step.type} at {pending.path}")

    def _next_attempt(self, step: m.ActionCallStep, failed: PendingStep, now: datetime) -> None:
        """Start the attempt after a backoff; its input is resolved again, so ``meta.attempt`` is current."""
        attempt = failed.attempt + 1
        pending = failed.model_copy(
            update={"attempt": attempt, "started_at": now, "emitted": False, "backing_off": False}
        )
        self.state.pending = pending
        self._emit(self._record_of(pending, "STARTED", None))
        self.state.step_rows += 1
        try:
            pending.effect = self._action_effect(step, pending.path, pending.seq, attempt=attempt)
        except BusinessError as exc:
            self.state.pending = None
            self._record(pending, "FAILED", now, exc.error)
            raise

    def _action_failed(
        self, step: m.ActionCallStep, pending: PendingStep, outcome: ActionFailed, now: datetime
    ) -> None:
        error = error_info(outcome.category, outcome.message, pending.path, step.id, outcome.details)
        self._record(pending, "FAILED", now, error)
        policy = step.retry
        if policy.retry_on is None:
            retryable = outcome.category != "ValidationError"
        else:
            retryable = outcome.category in policy.retry_on
        if retryable and pending.attempt < policy.max_attempts:
            assert isinstance(pending.effect, RunAction)
            backoff = Sleep(
                seq=pending.seq, path=pending.path, duration_ms=backoff_ms(policy, pending.attempt), is_wait=False
            )
            self.state.pending = pending.model_copy(update={"effect": backoff, "emitted": False, "backing_off": True})
            return
        if step.on_error.policy == "continue":
            if step.save_as:
                self._set_var(step.save_as, {"error": error}, pending.path)
            else:
                # Keyed by step id directly: ids like "send-mail" are not assignable path segments.
                errors = dict(self.state.vars.get("errors") or {})
                errors[step.id] = error
                self.state.vars = {**self.state.vars, "errors": errors}
                self.state.vars_dirty = True
            self._advance()
            return
        raise BusinessError(error)

    # -- control flow -----------------------------------------------------------------------------

    def _top(self) -> Frame:
        if not self.state.frames:
            raise InterpreterCorruption("the frame stack is empty but the run is not finished")
        return self.state.frames[-1]

    def _block(self, block_path: str) -> list[m.Step]:
        try:
            return self._blocks[block_path]
        except KeyError:
            raise InterpreterCorruption(f"no step list at {block_path} in this definition") from None

    def _step(self, path: str) -> m.Step:
        try:
            return self._steps[path]
        except KeyError:
            raise InterpreterCorruption(f"no step at {path} in this definition") from None

    def _push_container(self, frame: Frame) -> None:
        self.state.frames.append(frame)

    def _push_block(self, block_path: str, local_vars: dict[str, Any] | None = None) -> None:
        self.state.frames.append(Frame(kind="block", path=block_path, locals=local_vars or {}))

    def _advance(self) -> None:
        """The step at the top block's cursor is done: move to the next one."""
        self._top().index += 1

    def _next_item(self, frame: Frame) -> None:
        """Start the loop body for ``frame.index``, or finish the loop when the items are exhausted."""
        if frame.index >= len(frame.items):
            self.state.frames.pop()
            self._record_container(frame, "SUCCEEDED")
            self._advance()
            return
        step = self._step(frame.path)
        assert isinstance(step, m.ForEachStep)
        count = len(frame.items)
        self._push_block(
            f"{frame.path}.body",
            {
                step.item_var: frame.items[frame.index],
                "index": frame.index,
                "length": count,
                "isFirst": frame.index == 0,
                "isLast": frame.index == count - 1,
            },
        )

    def _close_block(self) -> None:
        """The top block ran out of steps: complete whatever it belonged to."""
        self.state.frames.pop()
        if not self.state.frames:
            self._finish_success(None)
            return
        owner = self._top()
        if owner.kind == "forEach":
            owner.index += 1
            self._next_item(owner)
        elif owner.kind in ("if", "try"):
            self.state.frames.pop()
            self._record_container(owner, "SUCCEEDED")
            self._advance()
        else:
            raise InterpreterCorruption(f"block {owner.path} directly inside another block")

    def _fail(self, error: dict[str, Any]) -> None:
        """Unwind to the nearest handler (a ``try`` in its try phase, or a forEach that continues)."""
        while self.state.frames:
            frame = self.state.frames.pop()
            if frame.kind == "block":
                continue
            if frame.kind == "try" and frame.phase == "try":
                step = self._step(frame.path)
                assert isinstance(step, m.TryCatchStep)
                frame.phase = "catch"
                self.state.frames.append(frame)
                if step.capture_error_as:
                    self.state.vars = {**self.state.vars, step.capture_error_as: error}
                    self.state.vars_dirty = True
                self._push_block(f"{frame.path}.catch", {"error": error})
                return
            if frame.kind == "forEach":
                step = self._step(frame.path)
                assert isinstance(step, m.ForEachStep)
                if step.on_item_error == "continue":
                    self.state.frames.append(frame)
                    frame.index += 1
                    self._next_item(frame)
                    return
            self._record_container(frame, "FAILED", error)
        self.state.finished = Finished(status="FAILED", vars=self.state.vars, error=error)

    def _finish_success(self, output: Any) -> None:
        for frame in reversed(self.state.frames):
            if frame.kind != "block":
                self._record_container(frame, "SUCCEEDED")
        self.state.frames = []
        self.state.finished = Finished(status="SUCCEEDED", vars=self.state.vars, output=output)

    # -- values -----------------------------------------------------------------------------------

    def _context(self) -> dict[str, Any]:
        context: dict[str, Any] = {"payload": self.payload, "vars": self.state.vars, "meta": self.meta}
        for frame in self.state.frames:
            context.update(frame.locals)
        pending = self.state.pending
        context["meta"] = {**self.meta, "attempt": pending.attempt if pending else 1}
        return context

    def _resolve(self, value: Any, path: str, *, context: Mapping[str, Any] | None = None) -> Any:
        try:
            return expressions.resolve(value, self._context() if context is None else context, self.env, step_path=path)
        except expressions.ExpressionError as exc:
            raise BusinessError.of("ExpressionError", str(exc), path, self._step(path).id) from exc

    @staticmethod
    def _truthy(value: Any) -> bool:
        return bool(value)

    def _text(self, value: Any, path: str, name: str) -> str:
        """A required text field: literal or computed, never the word "None"."""
        resolved = self._resolve(value, path)
        if resolved is None:
            raise BusinessError.of("ExpressionError", f"{name} evaluated to null", path, self._step(path).id)
        return resolved if isinstance(resolved, str) else json.dumps(resolved, ensure_ascii=False)

    def _optional_text(self, value: Any, path: str) -> str | None:
        """An optional text field: null means absent."""
        resolved = self._resolve(value, path) if value is not None else None
        if resolved is None:
            return None
        return resolved if isinstance(resolved, str) else json.dumps(resolved, ensure_ascii=False)

    def _millis(self, value: Any, path: str, name: str) -> int | None:
        """A literal or computed number of milliseconds (None when absent)."""
        if value is None:
            return None
        resolved = self._resolve(value, path)
        if resolved is None:
            return None
        if not isinstance(resolved, int | float) or isinstance(resolved, bool):
            raise BusinessError.of(
                "ExpressionError", f"{name} must be a number, got {resolved!r}", path, self._step(path).id
            )
        return int(resolved)

    def _save(self, target: str | None, value: Any, pending: PendingStep, now: datetime) -> None:
        """Store a step's result at its ``saveAs`` path; a bad path fails the step."""
        if not target:
            return
        try:
            self._set_var(target, value, pending.path)
        except BusinessError as exc:
            self._record(pending, "FAILED", now, exc.error)
            raise

    def _assign(self, assignments: Mapping[str, Any], path: str) -> None:
        for target, source in assignments.items():
            self._set_var(target, self._resolve(source, path), path)

    def _set_var(self, target: str, value: Any, path: str) -> None:
        try:
            self.state.vars = set_path(self.state.vars, target, value)
        except PathError as exc:
            raise BusinessError.of("ExpressionError", str(exc), path, self._step(path).id) from exc
        self.state.vars_dirty = True

    # -- records ----------------------------------------------------------------------------------

    def _new_seq(self) -> int:
        seq = self.state.next_seq
        self.state.next_seq += 1
        return seq

    def _iteration(self) -> str | None:
        indices = [str(f.index) for f in self.state.frames if f.kind == "forEach"]
        return ".".join(indices) or None

    def _emit(self, record: StepRecord) -> None:
        self.state.outbox.append(record)

    def _record_of(
        self, pending: PendingStep, status: str, error: dict[str, Any] | None, completed_at: datetime | None = None
    ) -> StepRecord:
        return StepRecord(
            seq=pending.seq,
            attempt=pending.attempt,
            path=pending.path,
            step_id=pending.step_id,
            step_type=pending.step_type,
            iteration=pending.iteration,
            status=status,
            started_at=pending.started_at,
            completed_at=completed_at,
            error=error,
        )

    def _record(self, pending: PendingStep, status: str, now: datetime, error: dict[str, Any] | None = None) -> None:
        self._emit(self._record_of(pending, status, error, now))

    def _record_container(
        self, frame: Frame, status: str, error: dict[str, Any] | None = None, *, now: datetime | None = None
    ) -> None:
        step = self._step(frame.path)
        assert frame.started_at is not None
        self._emit(
            StepRecord(
                seq=frame.seq,
                attempt=1,
                path=frame.path,
                step_id=step.id,
                step_type=step.type,
                iteration=self._iteration_outside(frame),
                status=status,
                started_at=frame.started_at,
                completed_at=now or self.env.now(),
                error=error,
            )
        )

    def _iteration_outside(self, frame: Frame) -> str | None:
        """The loop iteration a container step itself ran in (loops enclosing it, not its own)."""
        outer: list[str] = []
        for f in self.state.frames:
            if f is frame:
                break
            if f.kind == "forEach":
                outer.append(str(f.index))
        return ".".join(outer) or None
