"""Helpers for the interpreter unit tests: a fake clock, definitions, a driver that feeds outcomes."""

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from engine.dsl.models import Definition
from engine.expressions import EvalEnv
from engine.interpreter.effects import (
    ActionSucceeded,
    Checkpoint,
    Effect,
    Finished,
    Outcome,
    RunAction,
    Sleep,
    StepRecord,
    TimerFired,
)
from engine.interpreter.machine import Interpreter
from engine.interpreter.state import InterpreterState

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
RUN_ID = "run-1"
META: Mapping[str, Any] = {"run_id": RUN_ID, "workflow_id": "wf", "workflow_version": 3, "tenant": "acme"}


class Clock:
    """A deterministic, manually advanced clock for ``EvalEnv.now``."""

    def __init__(self, start: datetime = T0) -> None:
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    def advance(self, ms: int) -> None:
        self.current += timedelta(milliseconds=ms)


def definition(*steps: dict[str, Any]) -> Definition:
    """A definition around ``steps`` (camelCase JSON, as in examples/)."""
    return Definition.model_validate({"id": "wf", "version": 3, "name": "Test", "steps": list(steps)})


def make(
    defn: Definition | dict[str, Any],
    *,
    payload: dict[str, Any] | None = None,
    state: InterpreterState | None = None,
    clock: Clock | None = None,
    checkpoint_every: int | None = None,
) -> Interpreter:
    """An interpreter over ``defn`` (a Definition or a single step dict) with the test meta and clock."""
    if isinstance(defn, dict):
        defn = definition(defn)
    return Interpreter(
        defn,
        state if state is not None else InterpreterState(),
        payload=payload if payload is not None else {},
        meta=META,
        env=EvalEnv(now=clock if clock is not None else Clock()),
        checkpoint_every=checkpoint_every,
    )


def echo(effect: Effect) -> Outcome:
    """The default world: actions echo their input and timers fire."""
    if isinstance(effect, RunAction):
        return ActionSucceeded(output=effect.input)
    if isinstance(effect, Sleep):
        return TimerFired()
    raise AssertionError(f"no default outcome for {effect!r}")


Responder = Callable[[Effect], Outcome]


def drive(
    interp: Interpreter, respond: Responder | Iterable[Outcome] = echo, *, limit: int = 10_000
) -> tuple[list[Effect], Finished]:
    """Run to the end, answering each effect with ``respond(effect)`` or the next outcome in a sequence."""
    queue = None if callable(respond) else iter(list(respond))
    effects: list[Effect] = []
    for _ in range(limit):
        effect = interp.next_effect()
        if isinstance(effect, Finished):
            return effects, effect
        if isinstance(effect, Checkpoint):
            raise AssertionError("unexpected checkpoint")
        effects.append(effect)
        if queue is None:
            assert callable(respond)
            interp.resume(respond(effect))
        else:
            interp.resume(next(queue))
    raise AssertionError("the run did not finish")


def run(
    step_or_defn: Definition | dict[str, Any],
    respond: Responder | Iterable[Outcome] = echo,
    *,
    payload: dict[str, Any] | None = None,
) -> tuple[Interpreter, list[Effect], Finished]:
    """Build an interpreter and drive it to the end."""
    interp = make(step_or_defn, payload=payload)
    effects, finished = drive(interp, respond)
    return interp, effects, finished


def rows(records: Iterable[StepRecord]) -> list[tuple[str, str, str, int]]:
    """(path, step id, status, attempt) per record, in order."""
    return [(r.path, r.step_id, r.status, r.attempt) for r in records]


def roundtrip(interp: Interpreter) -> Interpreter:
    """A new interpreter over a JSON copy of ``interp``'s state (as continue-as-new carries it)."""
    state = InterpreterState.model_validate_json(interp.state.model_dump_json())
    return Interpreter(
        interp.definition,
        state,
        payload=interp.payload,
        meta=interp.meta,
        env=interp.env,
        checkpoint_every=interp.checkpoint_every,
    )


# Step builders, to keep the tests short.


def assign(step_id: str, **values: Any) -> dict[str, Any]:
    """A state.assign of ``vars.<key>`` = value (use ``expr()`` for expressions)."""
    return {"id": step_id, "type": "state.assign", "assign": {f"vars.{k}": v for k, v in values.items()}}


def action(step_id: str, **fields: Any) -> dict[str, Any]:
    """A core.echo action.call; ``fields`` are extra JSON fields (camelCase)."""
    return {"id": step_id, "type": "action.call", "action": "core.echo", "version": 1, **fields}


def expr(source: str) -> dict[str, str]:
    """An expression value."""
    return {"$expr": source}


def if_step(step_id: str, condition: Any, then: list[Any], else_: list[Any] | None = None) -> dict[str, Any]:
    """A control.if (``else`` only when given)."""
    step: dict[str, Any] = {"id": step_id, "type": "control.if", "condition": condition, "then": then}
    if else_ is not None:
        step["else"] = else_
    return step


def loop(step_id: str, items: Any, body: list[Any], **fields: Any) -> dict[str, Any]:
    """A control.forEach."""
    return {"id": step_id, "type": "control.forEach", "items": items, "body": body, **fields}


def try_step(step_id: str, try_: list[Any], catch: list[Any], **fields: Any) -> dict[str, Any]:
    """A control.tryCatch."""
    return {"id": step_id, "type": "control.tryCatch", "try": try_, "catch": catch, **fields}


def bad(step_id: str) -> dict[str, Any]:
    """A step that fails with an ExpressionError."""
    return assign(step_id, boom=expr("$number('abc') + 1"))
