"""Records, seq numbering, serialisation at effect boundaries, checkpoints, cancel and driver misuse."""

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.interpreter.effects import (
    ActionFailed,
    ActionSucceeded,
    Checkpoint,
    ChildSucceeded,
    Effect,
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
from engine.interpreter.state import Frame, InterpreterState
from tests.unit.interpreter.support import (
    T0,
    Clock,
    action,
    assign,
    definition,
    drive,
    expr,
    if_step,
    loop,
    make,
    roundtrip,
    rows,
    run,
)

# -- records ------------------------------------------------------------------------------------------


def test_paths_seq_and_step_rows_follow_execution_order() -> None:
    steps = definition(
        assign("a", a=1),
        action("b"),
        if_step("c", expr("vars.a = 1"), [assign("c-then", t=1), action("c-act")], [assign("c-else", e=1)]),
        loop("d", [1, 2], [assign("d-body", x=expr("item"))]),
        if_step("e", False, [], [assign("e-else", e=1)]),
    )
    interp, _, finished = run(steps)
    assert finished.status == "SUCCEEDED"
    records = interp.drain_records()
    assert [(r.seq, r.path, r.step_id, r.step_type, r.iteration) for r in records] == [
        (1, "root.steps[0]", "a", "state.assign", None),
        (2, "root.steps[1]", "b", "action.call", None),
        (3, "root.steps[2]", "c", "control.if", None),
        (4, "root.steps[2].then[0]", "c-then", "state.assign", None),
        (5, "root.steps[2].then[1]", "c-act", "action.call", None),
        (6, "root.steps[3]", "d", "control.forEach", None),
        (7, "root.steps[3].body[0]", "d-body", "state.assign", "0"),
        (8, "root.steps[3].body[0]", "d-body", "state.assign", "1"),
        (9, "root.steps[4]", "e", "control.if", None),
        (10, "root.steps[4].else[0]", "e-else", "state.assign", None),
    ]
    assert all(r.status == "SUCCEEDED" and r.completed_at is not None for r in records)
    assert interp.state.step_rows == 10
    assert interp.state.next_seq == 11


def test_every_step_records_started_then_its_result_and_containers_close_last() -> None:
    clock = Clock()
    interp = make(definition(if_step("check", True, [action("call")])), clock=clock)
    assert isinstance(interp.next_effect(), RunAction)
    clock.advance(1500)
    interp.resume(ActionSucceeded(output=None))
    assert isinstance(interp.next_effect(), Finished)
    outbox = [(r.step_id, r.status, r.started_at, r.completed_at) for r in interp.state.outbox]
    later = clock()
    assert outbox == [
        ("check", "STARTED", T0, None),
        ("call", "STARTED", T0, None),
        ("call", "SUCCEEDED", T0, later),
        ("check", "SUCCEEDED", T0, later),
    ]


def test_drain_coalesces_to_the_latest_record_per_seq_and_attempt() -> None:
    interp = make(definition(assign("a", a=1), action("call", retry={"maxAttempts": 2, "backoffMs": 5})))
    assert isinstance(interp.next_effect(), RunAction)
    assert len(interp.state.outbox) == 3  # a STARTED, a SUCCEEDED, call STARTED
    assert [(r.step_id, r.status) for r in interp.drain_records()] == [("a", "SUCCEEDED"), ("call", "STARTED")]
    assert interp.state.outbox == []
    assert interp.drain_records() == []
    interp.resume(ActionFailed(category="NetworkError", message="x"))
    assert isinstance(interp.next_effect(), Sleep)
    interp.resume(TimerFired())
    assert isinstance(interp.next_effect(), RunAction)
    interp.resume(ActionSucceeded(output=1))
    assert isinstance(interp.next_effect(), Finished)
    assert [(r.step_id, r.attempt, r.status) for r in interp.drain_records()] == [
        ("call", 1, "FAILED"),
        ("call", 2, "SUCCEEDED"),
    ]


def test_current_path_and_vars_dirty_track_progress() -> None:
    interp = make(definition(action("call", saveAs="vars.x"), assign("a", a=1)))
    assert interp.current_path == "root.steps[0]"
    interp.next_effect()
    assert interp.current_path == "root.steps[0]"
    assert interp.state.vars_dirty is False
    interp.resume(ActionSucceeded(output=5))
    assert interp.state.vars_dirty is True
    assert interp.current_path == "root.steps[1]"
    interp.next_effect()
    assert interp.current_path is None


# -- serialisation ------------------------------------------------------------------------------------


def rich_definition() -> Any:
    return definition(
        assign("init", total=0),
        action(
            "greet", input={"id": expr("payload.id")}, saveAs="vars.greeting", retry={"maxAttempts": 3, "backoffMs": 10}
        ),
        loop(
            "loop",
            expr("payload.items"),
            [
                if_step(
                    "big",
                    expr("item > 1"),
                    [action("charge", input={"n": expr("item"), "i": expr("index")}, saveAs="vars.last")],
                    [assign("small", small=expr("item"))],
                ),
                assign("add", total=expr("vars.total + item")),
            ],
        ),
        {
            "id": "outer",
            "type": "control.tryCatch",
            "try": [
                {
                    "id": "guard",
                    "type": "control.tryCatch",
                    "captureErrorAs": "err",
                    "try": [
                        {
                            "id": "approval",
                            "type": "event.wait",
                            "eventName": "ok",
                            "correlationKey": "k",
                            "timeoutMs": 5,
                        },
                        assign("unreached", unreached=True),
                    ],
                    "catch": [
                        assign("recover", reason=expr("error.category"), at=expr("$millis()")),
                        action("notify", input={"why": expr("error.stepId")}),
                        assign("still", still=expr("error.category")),
                        assign("rethrow", x=expr("$number('x') + 1")),
                    ],
                }
            ],
            "catch": [assign("outer-catch", outerReason=expr("error.stepId"))],
        },
        {"id": "nap", "type": "time.wait", "durationMs": 50, "assign": {"vars.woke": expr("$millis()")}},
        {"id": "review", "type": "human.task", "taskType": "t", "title": "T", "saveAs": "vars.review"},
        {
            "id": "child",
            "type": "control.callWorkflow",
            "workflowId": "c",
            "inputMapping": {"n": expr("vars.total")},
            "outputMapping": {"vars.doubled": expr("output.result")},
        },
        {"id": "done", "type": "control.return", "output": {"total": expr("vars.total"), "d": expr("vars.doubled")}},
    )


def world(effect: Effect) -> Outcome:
    """A deterministic outside world for ``rich_definition``."""
    if isinstance(effect, RunAction):
        if effect.step_id == "greet" and effect.attempt == 1:
            return ActionFailed(category="NetworkError", message="reset")
        return ActionSucceeded(output=effect.input)
    if isinstance(effect, Sleep):
        return TimerFired()
    if isinstance(effect, WaitEvent):
        return WaitTimedOut()
    if isinstance(effect, HumanTask):
        return WaitResolved(value={"approved": True})
    if isinstance(effect, StartChild):
        return ChildSucceeded(
            result={"payload": effect.payload, "vars": {}, "output": {"result": effect.payload["n"] * 2}}
        )
    raise AssertionError(effect)


def drive_with_roundtrips(
    interp: Interpreter, clock: Clock, trips: list[bool] | None = None
) -> tuple[list[Effect], Finished, Interpreter]:
    """Drive to the end; before and after every resume, maybe swap in a JSON round-tripped interpreter."""
    choices = iter(trips) if trips is not None else None

    def maybe(current: Interpreter) -> Interpreter:
        if choices is None or next(choices, True):
            return roundtrip(current)
        return current

    effects: list[Effect] = []
    for _ in range(500):
        effect = interp.next_effect()
        if isinstance(effect, Finished):
            return effects, effect, interp
        effects.append(effect)
        interp = maybe(interp)
        clock.advance(1000)
        interp.resume(world(effect))
        interp = maybe(interp)
    raise AssertionError("the run did not finish")


def reference_run() -> tuple[list[Effect], Finished, Interpreter]:
    clock = Clock()
    interp = make(rich_definition(), payload={"id": 7, "items": [1, 2, 3]}, clock=clock)
    effects: list[Effect] = []
    while True:
        effect = interp.next_effect()
        if isinstance(effect, Finished):
            return effects, effect, interp
        effects.append(effect)
        clock.advance(1000)
        interp.resume(world(effect))


def test_reference_run_exercises_every_effect_kind() -> None:
    effects, finished, interp = reference_run()
    assert {type(e).__name__ for e in effects} == {"RunAction", "Sleep", "WaitEvent", "HumanTask", "StartChild"}
    assert finished.status == "SUCCEEDED"
    assert finished.output == {"total": 6, "d": 12}
    assert finished.vars["greeting"] == {"id": 7}
    assert finished.vars["last"] == {"n": 3, "i": 2}
    assert finished.vars["small"] == 1
    assert finished.vars["reason"] == "TimeoutError"
    assert (finished.vars["still"], finished.vars["outerReason"]) == ("TimeoutError", "rethrow")
    assert "x" not in finished.vars
    assert "unreached" not in finished.vars
    assert interp.state.frames == []


def test_round_trip_after_every_effect_and_outcome_continues_identically() -> None:
    expected_effects, expected_finished, expected = reference_run()
    clock = Clock()
    interp = make(rich_definition(), payload={"id": 7, "items": [1, 2, 3]}, clock=clock)
    effects, finished, final = drive_with_roundtrips(interp, clock)
    assert effects == expected_effects
    assert finished == expected_finished
    assert final.state.outbox == expected.state.outbox
    assert (final.state.step_rows, final.state.next_seq) == (expected.state.step_rows, expected.state.next_seq)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.booleans(), max_size=40))
def test_round_trips_at_any_subset_of_boundaries_change_nothing(trips: list[bool]) -> None:
    expected_effects, expected_finished, expected = reference_run()
    clock = Clock()
    interp = make(rich_definition(), payload={"id": 7, "items": [1, 2, 3]}, clock=clock)
    effects, finished, final = drive_with_roundtrips(interp, clock, trips)
    assert effects == expected_effects
    assert finished == expected_finished
    assert final.state.outbox == expected.state.outbox


def test_state_round_trips_while_waiting_out_a_retry_backoff() -> None:
    interp = make(action("flaky", input={"a": 1}, retry={"maxAttempts": 2, "backoffMs": 10}))
    first = interp.next_effect()
    interp.resume(ActionFailed(category="NetworkError", message="x"))
    assert isinstance(interp.next_effect(), Sleep)
    copy = roundtrip(interp)
    assert copy.state.pending is not None and copy.state.pending.backing_off
    copy.resume(TimerFired())
    again = copy.next_effect()
    assert again == first.model_copy(update={"attempt": 2})


# -- checkpoints --------------------------------------------------------------------------------------


def long_definition() -> Any:
    return definition(
        assign("init", sum=0),
        loop(
            "loop",
            expr("[1..10]"),
            [
                assign("add", sum=expr("vars.sum + item")),
                action("touch", saveAs="vars.last", input={"n": expr("item")}),
            ],
        ),
    )


def test_checkpoint_every_n_steps_and_continue_on_a_round_tripped_state() -> None:
    baseline = make(long_definition())
    expected_effects, expected_finished = drive(baseline)

    interp = make(long_definition(), checkpoint_every=4)
    effects: list[Effect] = []
    seqs_at_checkpoint: list[int] = []
    while True:
        effect = interp.next_effect()
        if isinstance(effect, Finished):
            break
        if isinstance(effect, Checkpoint):
            assert interp.state.pending is None
            assert interp.next_effect() == Checkpoint()  # it repeats until the driver resets the counter
            seqs_at_checkpoint.append(interp.state.next_seq - 1)
            interp.state.steps_since_checkpoint = 0
            interp = roundtrip(interp)
            continue
        effects.append(effect)
        interp = roundtrip(interp)  # replay and continue-as-new may happen between any two effects
        interp.resume(ActionSucceeded(output=effect.input if isinstance(effect, RunAction) else None))

    total_steps = 2 + 10 * 2
    assert seqs_at_checkpoint == list(range(4, total_steps + 1, 4))
    assert effects == expected_effects
    assert effect == expected_finished
    assert effect.vars == {"sum": 55, "last": {"n": 10}}
    assert interp.state.outbox == baseline.state.outbox
    assert interp.state.step_rows == total_steps


def test_checkpoint_waits_for_the_outstanding_effect() -> None:
    interp = make(definition(action("a"), action("b")), checkpoint_every=1)
    assert isinstance(interp.next_effect(), RunAction)
    interp.resume(ActionSucceeded(output=None))
    assert interp.next_effect() == Checkpoint()
    interp.state.steps_since_checkpoint = 0
    effect = interp.next_effect()
    assert isinstance(effect, RunAction) and effect.step_id == "b"


# -- cancel -------------------------------------------------------------------------------------------


def test_cancel_records_the_pending_step_and_every_open_container() -> None:
    clock = Clock()
    steps = definition(
        assign("before", a=1),
        {
            "id": "guard",
            "type": "control.tryCatch",
            "try": [loop("loop", [1, 2], [if_step("check", True, [action("call")])])],
            "catch": [],
        },
        assign("after", b=1),
    )
    interp = make(steps, clock=clock)
    interp.next_effect()
    interp.resume(ActionSucceeded(output=None))
    assert isinstance(interp.next_effect(), RunAction)  # second iteration
    interp.drain_records()
    clock.advance(5000)
    interp.cancel(clock())
    records = interp.drain_records()
    assert [(r.step_id, r.iteration, r.status) for r in records] == [
        ("call", "1", "CANCELED"),
        ("check", "1", "CANCELED"),
        ("loop", None, "CANCELED"),
        ("guard", None, "CANCELED"),
    ]
    assert all(r.completed_at == clock() for r in records)
    assert records[0].started_at == T0
    assert interp.state.pending is None and interp.state.frames == []
    assert interp.state.finished is None


def test_cancel_with_nothing_open_records_nothing() -> None:
    interp = make(definition(assign("a", a=1)))
    interp.cancel(T0)
    assert interp.drain_records() == []


def test_cancel_during_a_timer_wait() -> None:
    interp = make({"id": "nap", "type": "time.wait", "durationMs": 1000})
    interp.next_effect()
    interp.cancel(T0)
    assert rows(interp.drain_records()) == [("root.steps[0]", "nap", "CANCELED", 1)]


# -- driver misuse ------------------------------------------------------------------------------------


def test_resume_without_an_outstanding_effect_is_corruption() -> None:
    interp = make(action("call"))
    with pytest.raises(InterpreterCorruption, match="no effect outstanding"):
        interp.resume(ActionSucceeded(output=None))


def test_asking_for_the_next_effect_before_resuming_is_corruption() -> None:
    interp = make(action("call"))
    interp.next_effect()
    with pytest.raises(InterpreterCorruption, match="still awaiting"):
        interp.next_effect()


def test_an_outcome_of_the_wrong_kind_is_corruption() -> None:
    interp = make(action("call"))
    interp.next_effect()
    with pytest.raises(InterpreterCorruption, match="does not fit"):
        interp.resume(WaitResolved(value=1))


def test_a_state_from_another_definition_is_corruption() -> None:
    state = InterpreterState(frames=[Frame(kind="block", path="root.steps[9].then")])
    with pytest.raises(InterpreterCorruption, match="no step list"):
        make(definition(assign("a", a=1)), state=state).next_effect()


def test_corruption_is_not_caught_by_try_catch() -> None:
    steps = definition(
        {"id": "guard", "type": "control.tryCatch", "try": [action("call")], "catch": [assign("c", caught=True)]}
    )
    interp = make(steps)
    interp.next_effect()
    with pytest.raises(InterpreterCorruption):
        interp.resume(ChildSucceeded(result={}))
