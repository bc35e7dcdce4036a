"""action.call: effect fields, saveAs, retries and backoff, retryOn, onError, unhandled failures."""

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.expressions import EvalEnv
from engine.interpreter.effects import (
    ActionFailed,
    ActionSucceeded,
    Effect,
    Finished,
    Outcome,
    RunAction,
    Sleep,
    TimerFired,
)
from engine.interpreter.errors import InterpreterCorruption
from engine.interpreter.machine import Interpreter
from engine.interpreter.state import InterpreterState
from tests.unit.interpreter.support import (
    META,
    Clock,
    action,
    assign,
    definition,
    drive,
    expr,
    make,
    rows,
    run,
)


def failing(*categories: str) -> list[Outcome]:
    """Outcomes for attempts that fail with ``categories`` in turn, each followed by its backoff timer."""
    outcomes: list[Outcome] = []
    for index, category in enumerate(categories):
        if index:
            outcomes.append(TimerFired())
        outcomes.append(ActionFailed(category=category, message=f"failure {index + 1}"))
    return outcomes


# -- the effect ---------------------------------------------------------------------------------------


def test_run_action_resolves_input_from_payload_vars_and_meta() -> None:
    interp = make(
        definition(
            assign("setup", n=5),
            action(
                "call",
                input={
                    "ticket": expr("payload.ticket.id"),
                    "n": expr("vars.n"),
                    "nested": {"next": expr("vars.n + 1"), "list": [expr("meta.tenant"), "lit"]},
                    "run": expr("meta.run_id"),
                    "wf": expr("meta.workflow_id & '@' & $string(meta.workflow_version)"),
                    "attempt": expr("meta.attempt"),
                    "literal": "x",
                },
            ),
        ),
        payload={"ticket": {"id": 1001}},
    )
    effect = interp.next_effect()
    assert effect == RunAction(
        seq=2,
        attempt=1,
        path="root.steps[1]",
        step_id="call",
        action="core.echo",
        version=1,
        input={
            "ticket": 1001,
            "n": 5,
            "nested": {"next": 6, "list": ["acme", "lit"]},
            "run": "run-1",
            "wf": "wf@3",
            "attempt": 1,
            "literal": "x",
        },
        idempotency_key="run-1:2",
    )


def test_default_idempotency_key_is_run_id_and_seq_so_each_loop_iteration_differs() -> None:
    _, effects, finished = run(
        {
            "id": "loop",
            "type": "control.forEach",
            "items": [1, 2, 3],
            "body": [action("call", input={"n": expr("item")})],
        }
    )
    assert finished.status == "SUCCEEDED"
    assert [(e.idempotency_key, e.input) for e in effects if isinstance(e, RunAction)] == [
        ("run-1:2", {"n": 1}),
        ("run-1:3", {"n": 2}),
        ("run-1:4", {"n": 3}),
    ]


def test_explicit_idempotency_key_expression_is_resolved() -> None:
    interp = make(action("notify", idempotencyKey=expr("'notify:' & payload.ticketId")), payload={"ticketId": "T-7"})
    effect = interp.next_effect()
    assert isinstance(effect, RunAction)
    assert effect.idempotency_key == "notify:T-7"


def test_literal_idempotency_key_is_used_as_is() -> None:
    effect = make(action("notify", idempotencyKey="fixed-key")).next_effect()
    assert isinstance(effect, RunAction) and effect.idempotency_key == "fixed-key"


def test_idempotency_key_resolving_to_null_does_not_collide_across_runs() -> None:
    step = action("notify", idempotencyKey=expr("payload.missing"))
    effects = []
    for run_id in ("run-a", "run-b"):
        interp = Interpreter(
            definition(step),
            InterpreterState(),
            payload={},
            meta={**META, "run_id": run_id},
            env=EvalEnv(now=Clock()),
        )
        effects.append(interp.next_effect())
    first, second = effects
    assert not (
        isinstance(first, RunAction)
        and isinstance(second, RunAction)
        and first.idempotency_key == second.idempotency_key
    )


def test_input_expression_error_fails_the_step_without_running_the_action() -> None:
    interp, effects, finished = run(action("call", input={"x": expr("$number('abc') + 1")}))
    assert effects == []
    assert finished.status == "FAILED"
    assert finished.error is not None
    assert finished.error["category"] == "ExpressionError"
    assert (finished.error["stepPath"], finished.error["stepId"]) == ("root.steps[0]", "call")
    assert "$number('abc') + 1" in finished.error["message"]
    assert rows(interp.drain_records()) == [("root.steps[0]", "call", "FAILED", 1)]


# -- success ------------------------------------------------------------------------------------------


def test_save_as_stores_the_output_and_later_steps_see_it() -> None:
    _, _, finished = run(
        definition(
            action("call", input={"a": 1}, saveAs="vars.result.deep"),
            assign("after", copy=expr("vars.result.deep.a + 1")),
        ),
        [ActionSucceeded(output={"a": 41})],
    )
    assert finished.status == "SUCCEEDED"
    assert finished.vars == {"result": {"deep": {"a": 41}}, "copy": 42}


def test_without_save_as_the_output_is_dropped() -> None:
    interp, _, finished = run(action("call", input={"a": 1}), [ActionSucceeded(output={"big": "x"})])
    assert finished.vars == {}
    assert interp.state.vars_dirty is False


def test_save_as_into_a_scalar_fails_the_step_after_success() -> None:
    interp, _, finished = run(
        definition(assign("setup", x=5), action("call", saveAs="vars.x.y")), [ActionSucceeded(output=1)]
    )
    assert finished.status == "FAILED"
    assert finished.error is not None and finished.error["category"] == "ExpressionError"
    assert finished.error["stepId"] == "call"
    assert rows(interp.drain_records())[-1] == ("root.steps[1]", "call", "FAILED", 1)


# -- retries ------------------------------------------------------------------------------------------


def test_retry_backoff_grows_by_the_multiplier_and_is_capped() -> None:
    step = action(
        "flaky",
        input={"k": 1},
        saveAs="vars.out",
        retry={"maxAttempts": 5, "backoffMs": 100, "backoffMultiplier": 3, "maxDelayMs": 1000},
    )
    outcomes = [*failing("NetworkError", "NetworkError", "Timeout", "NetworkError"), TimerFired()]
    outcomes.append(ActionSucceeded(output="ok"))
    interp, effects, finished = run(step, outcomes)
    assert finished.status == "SUCCEEDED" and finished.vars == {"out": "ok"}
    sleeps = [e for e in effects if isinstance(e, Sleep)]
    assert [s.duration_ms for s in sleeps] == [100, 300, 900, 1000]
    assert all(not s.is_wait and s.seq == 1 and s.path == "root.steps[0]" for s in sleeps)
    actions = [e for e in effects if isinstance(e, RunAction)]
    assert [a.attempt for a in actions] == [1, 2, 3, 4, 5]
    assert {(a.seq, a.idempotency_key) for a in actions} == {(1, "run-1:1")}
    assert all(a.input == {"k": 1} for a in actions)
    # Effects alternate: action, backoff, action, ...
    assert [type(e).__name__ for e in effects] == ["RunAction", "Sleep"] * 4 + ["RunAction"]
    # A STARTED record per attempt, then its result.
    assert [(r.attempt, r.status) for r in interp.state.outbox] == [
        (1, "STARTED"), (1, "FAILED"),
        (2, "STARTED"), (2, "FAILED"),
        (3, "STARTED"), (3, "FAILED"),
        (4, "STARTED"), (4, "FAILED"),
        (5, "STARTED"), (5, "SUCCEEDED"),
    ]  # fmt: skip
    assert interp.state.step_rows == 5


def test_retry_attempt_started_at_is_when_the_backoff_timer_fired() -> None:
    clock = Clock()
    interp = make(action("flaky", retry={"maxAttempts": 2, "backoffMs": 250}), clock=clock)
    interp.next_effect()
    interp.resume(ActionFailed(category="NetworkError", message="x"))
    assert interp.next_effect() == Sleep(seq=1, path="root.steps[0]", duration_ms=250, is_wait=False)
    clock.advance(250)
    interp.resume(TimerFired())
    retry = interp.next_effect()
    assert isinstance(retry, RunAction) and retry.attempt == 2
    started = [r for r in interp.drain_records() if r.attempt == 2]
    assert [(r.status, r.started_at) for r in started] == [("STARTED", clock())]


def test_retries_stop_at_max_attempts_and_the_last_error_fails_the_run() -> None:
    step = action("flaky", retry={"maxAttempts": 3, "backoffMs": 10})
    interp, effects, finished = run(step, failing("NetworkError", "NetworkError", "NetworkError"))
    assert len([e for e in effects if isinstance(e, RunAction)]) == 3
    assert finished.status == "FAILED"
    assert finished.error == {
        "category": "NetworkError",
        "message": "failure 3",
        "stepPath": "root.steps[0]",
        "stepId": "flaky",
    }
    assert rows(interp.drain_records()) == [("root.steps[0]", "flaky", "FAILED", n) for n in (1, 2, 3)]


def test_max_attempts_one_means_no_retry() -> None:
    _, effects, finished = run(action("once"), failing("NetworkError"))
    assert len(effects) == 1 and finished.status == "FAILED"


def test_retry_on_restricts_the_retried_categories() -> None:
    step = action("flaky", retry={"maxAttempts": 3, "backoffMs": 10, "retryOn": ["NetworkError"]})
    _, effects, finished = run(step, failing("NetworkError", "ActionError"))
    assert [type(e).__name__ for e in effects] == ["RunAction", "Sleep", "RunAction"]
    assert finished.error is not None and finished.error["category"] == "ActionError"


def test_validation_error_is_not_retried_by_default() -> None:
    _, effects, finished = run(action("strict", retry={"maxAttempts": 3}), failing("ValidationError"))
    assert len(effects) == 1
    assert finished.error is not None and finished.error["category"] == "ValidationError"


def test_validation_error_is_retried_when_retry_on_names_it() -> None:
    step = action("strict", retry={"maxAttempts": 2, "backoffMs": 0, "retryOn": ["ValidationError"]})
    _, effects, finished = run(step, [*failing("ValidationError", "ValidationError")])
    assert [type(e).__name__ for e in effects] == ["RunAction", "Sleep", "RunAction"]
    assert effects[1] == Sleep(seq=1, path="root.steps[0]", duration_ms=0, is_wait=False)
    assert finished.status == "FAILED"


def test_any_outcome_but_the_timer_during_a_backoff_is_corruption() -> None:
    interp = make(action("flaky", retry={"maxAttempts": 2}))
    interp.next_effect()
    interp.resume(ActionFailed(category="NetworkError", message="x"))
    assert isinstance(interp.next_effect(), Sleep)
    with pytest.raises(InterpreterCorruption, match="retry timer"):
        interp.resume(ActionSucceeded(output=1))


@settings(max_examples=200, deadline=None)
@given(
    attempts=st.integers(min_value=2, max_value=8),
    backoff=st.integers(min_value=0, max_value=10_000),
    multiplier=st.floats(min_value=1.0, max_value=10.0, allow_nan=False),
    cap=st.integers(min_value=0, max_value=20_000),
)
def test_backoff_delays_follow_the_formula_and_never_exceed_the_cap(
    attempts: int, backoff: int, multiplier: float, cap: int
) -> None:
    retry = {"maxAttempts": attempts, "backoffMs": backoff, "backoffMultiplier": multiplier, "maxDelayMs": cap}
    categories = ["NetworkError"] * attempts
    _, effects, finished = run(action("flaky", retry=retry), failing(*categories))
    delays = [e.duration_ms for e in effects if isinstance(e, Sleep)]
    assert len(delays) == attempts - 1
    assert all(0 <= d <= cap for d in delays)
    assert delays == [int(min(backoff * multiplier ** (n - 1), cap)) for n in range(1, attempts)]
    assert delays == sorted(delays)
    assert finished.status == "FAILED"


def test_huge_backoff_multiplier_is_capped_not_an_overflow() -> None:
    step = action("flaky", retry={"maxAttempts": 4, "backoffMs": 10, "backoffMultiplier": 1e200, "maxDelayMs": 500})
    _, effects, _ = run(step, failing("NetworkError", "NetworkError", "NetworkError", "NetworkError"))
    assert [e.duration_ms for e in effects if isinstance(e, Sleep)] == [10, 500, 500]


# -- onError ------------------------------------------------------------------------------------------


def test_on_error_continue_stores_the_error_at_save_as_and_moves_on() -> None:
    steps = definition(
        action(
            "flaky",
            saveAs="vars.flaky",
            retry={"maxAttempts": 2, "backoffMs": 10},
            onError={"policy": "continue"},
        ),
        assign("after", after=True),
    )
    interp, _, finished = run(steps, failing("NetworkError", "NetworkError"))
    assert finished.status == "SUCCEEDED"
    assert finished.vars == {
        "flaky": {
            "error": {
                "category": "NetworkError",
                "message": "failure 2",
                "stepPath": "root.steps[0]",
                "stepId": "flaky",
            }
        },
        "after": True,
    }
    assert rows(interp.drain_records()) == [
        ("root.steps[0]", "flaky", "FAILED", 1),
        ("root.steps[0]", "flaky", "FAILED", 2),
        ("root.steps[1]", "after", "SUCCEEDED", 1),
    ]


def test_on_error_continue_without_save_as_stores_the_error_under_vars_errors() -> None:
    steps = definition(action("invalid", onError={"policy": "continue"}), assign("after", after=True))
    _, _, finished = run(steps, failing("ValidationError"))
    assert finished.status == "SUCCEEDED"
    assert finished.vars["errors"] == {
        "invalid": {
            "category": "ValidationError",
            "message": "failure 1",
            "stepPath": "root.steps[0]",
            "stepId": "invalid",
        }
    }
    assert finished.vars["after"] is True


def test_on_error_continue_without_save_as_works_for_a_hyphenated_step_id() -> None:
    steps = definition(action("send-mail", onError={"policy": "continue"}), assign("after", after=True))
    _, _, finished = run(steps, failing("ActionError"))
    assert finished.status == "SUCCEEDED", finished.error
    assert finished.vars["after"] is True


def test_on_error_fail_is_the_default_and_stops_the_run() -> None:
    steps = definition(assign("before", a=1), action("boom"), assign("never", never=True))
    interp, _, finished = run(steps, [ActionFailed(category="ActionError", message="no way")])
    assert finished == Finished(
        status="FAILED",
        vars={"a": 1},
        error={"category": "ActionError", "message": "no way", "stepPath": "root.steps[1]", "stepId": "boom"},
    )
    assert rows(interp.drain_records()) == [
        ("root.steps[0]", "before", "SUCCEEDED", 1),
        ("root.steps[1]", "boom", "FAILED", 1),
    ]


def test_failure_details_travel_with_the_error() -> None:
    outcome = ActionFailed(category="HttpError", message="503", details={"status": 503})
    _, _, finished = run(action("http"), [outcome])
    assert finished.error is not None and finished.error["details"] == {"status": 503}


def test_continued_error_is_visible_to_later_expressions() -> None:
    steps = definition(
        action("call", saveAs="vars.res", onError={"policy": "continue"}),
        {
            "id": "check",
            "type": "control.if",
            "condition": expr("$exists(vars.res.error)"),
            "then": [assign("handled", why=expr("vars.res.error.message"))],
        },
    )
    _, _, finished = run(steps, [ActionFailed(category="ActionError", message="nope")])
    assert finished.vars["why"] == "nope"


def responder_for(outputs: dict[str, Any]) -> Any:
    """Answer each action with ``outputs[step_id]``."""

    def respond(effect: Effect) -> Outcome:
        assert isinstance(effect, RunAction)
        return ActionSucceeded(output=outputs[effect.step_id])

    return respond


def test_each_action_gets_its_own_output() -> None:
    steps = definition(action("a", saveAs="vars.a"), action("b", saveAs="vars.b"))
    interp = make(steps)
    _, finished = drive(interp, responder_for({"a": 1, "b": [2]}))
    assert finished.vars == {"a": 1, "b": [2]}


def test_meta_attempt_is_the_current_attempt_in_a_retried_input() -> None:
    step = action("flaky", input={"attempt": expr("meta.attempt")}, retry={"maxAttempts": 3, "backoffMs": 1})
    _, effects, _ = run(step, failing("NetworkError", "NetworkError", "NetworkError"))
    assert [e.input["attempt"] for e in effects if isinstance(e, RunAction)] == [1, 2, 3]
