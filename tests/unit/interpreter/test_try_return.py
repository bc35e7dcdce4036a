"""control.tryCatch (catching, captureErrorAs, the error local, nesting) and control.return."""

from typing import Any

from engine.interpreter.effects import ActionFailed
from tests.unit.interpreter.support import (
    action,
    assign,
    bad,
    definition,
    expr,
    if_step,
    loop,
    make,
    rows,
    run,
    try_step,
)

# -- control.tryCatch ---------------------------------------------------------------------------------


def example_try() -> dict[str, Any]:
    return try_step(
        "guard",
        [action("explode"), assign("unreached", unreached=True)],
        [assign("recover", recovered=True, reason=expr("error.message"), where=expr("error.stepId"))],
        captureErrorAs="err",
    )


def test_try_catch_catches_an_action_failure() -> None:
    interp, _, finished = run(
        definition(example_try(), assign("after", after=True)),
        [ActionFailed(category="ActionError", message="upstream said no")],
    )
    assert finished.status == "SUCCEEDED"
    assert finished.vars == {
        "err": {
            "category": "ActionError",
            "message": "upstream said no",
            "stepPath": "root.steps[0].try[0]",
            "stepId": "explode",
        },
        "recovered": True,
        "reason": "upstream said no",
        "where": "explode",
        "after": True,
    }
    assert rows(interp.drain_records()) == [
        ("root.steps[0]", "guard", "SUCCEEDED", 1),
        ("root.steps[0].try[0]", "explode", "FAILED", 1),
        ("root.steps[0].catch[0]", "recover", "SUCCEEDED", 1),
        ("root.steps[1]", "after", "SUCCEEDED", 1),
    ]


def test_try_catch_catches_an_expression_error_and_error_is_a_local() -> None:
    steps = definition(
        try_step("guard", [bad("calc")], [assign("recover", category=expr("error.category"))]),
        assign("after", error=expr("error")),
    )
    _, _, finished = run(steps)
    assert finished.status == "SUCCEEDED"
    # No captureErrorAs: nothing but the catch block's own assignment lands in vars.
    assert finished.vars == {"category": "ExpressionError", "error": None}


def test_try_without_failure_skips_the_catch() -> None:
    interp, _, finished = run(definition(try_step("guard", [assign("fine", ok=True)], [assign("c", caught=True)])))
    assert finished.vars == {"ok": True}
    assert [r.step_id for r in interp.drain_records()] == ["guard", "fine"]


def test_empty_catch_swallows_the_error() -> None:
    _, _, finished = run(definition(try_step("guard", [bad("calc")], []), assign("after", after=True)))
    assert finished.status == "SUCCEEDED" and finished.vars == {"after": True}


def test_error_local_is_visible_in_steps_nested_in_the_catch() -> None:
    catch = [if_step("which", expr("error.category = 'ExpressionError'"), [assign("x", kind=expr("error.stepId"))])]
    _, _, finished = run(try_step("guard", [bad("calc")], catch))
    assert finished.vars == {"kind": "calc"}


def test_an_error_inside_catch_propagates_and_fails_the_try() -> None:
    steps = definition(try_step("guard", [bad("first")], [bad("second")], captureErrorAs="err"), assign("never", n=1))
    interp, _, finished = run(steps)
    assert finished.status == "FAILED"
    assert finished.error is not None and finished.error["stepId"] == "second"
    assert finished.vars["err"]["stepId"] == "first"
    final = {r.step_id: r for r in interp.drain_records()}
    assert final["guard"].status == "FAILED" and final["guard"].completed_at is not None
    assert "never" not in final


def test_inner_try_handles_its_own_error_and_the_outer_catch_does_not_run() -> None:
    inner = try_step("inner", [bad("calc")], [assign("inner-catch", inner=True)])
    outer = try_step("outer", [inner, assign("after-inner", after=True)], [assign("outer-catch", outer=True)])
    _, _, finished = run(outer)
    assert finished.vars == {"inner": True, "after": True}


def test_an_error_in_an_inner_catch_goes_to_the_outer_catch() -> None:
    inner = try_step("inner", [bad("first")], [bad("second")])
    outer = try_step("outer", [inner], [assign("outer-catch", caught=expr("error.stepId"))], captureErrorAs="err")
    interp, _, finished = run(outer)
    assert finished.status == "SUCCEEDED"
    assert finished.vars["caught"] == "second"
    statuses = {r.step_id: r.status for r in interp.drain_records()}
    assert statuses == {
        "outer": "SUCCEEDED",
        "inner": "FAILED",
        "first": "FAILED",
        "second": "FAILED",
        "outer-catch": "SUCCEEDED",
    }


def test_try_catch_around_a_loop_records_the_loop_failed() -> None:
    steps = try_step("guard", [loop("loop", [1, 2], [bad("boom")])], [assign("c", at=expr("error.stepPath"))])
    interp, _, finished = run(steps)
    assert finished.vars == {"at": "root.steps[0].try[0].body[0]"}
    statuses = {r.step_id: r.status for r in interp.drain_records()}
    assert statuses["loop"] == "FAILED" and statuses["guard"] == "SUCCEEDED"


def test_for_each_continue_inside_try_handles_the_error_first() -> None:
    steps = try_step("guard", [loop("loop", [1], [bad("boom")], onItemError="continue")], [assign("c", caught=True)])
    _, _, finished = run(steps)
    assert finished.vars == {}


# -- control.return -----------------------------------------------------------------------------------


def test_return_ends_the_run_with_its_output() -> None:
    steps = definition(
        assign("set", label="T-1"),
        {"id": "done", "type": "control.return", "output": {"label": expr("vars.label"), "fixed": 1}},
        assign("never", never=True),
    )
    interp, _, finished = run(steps)
    assert finished.status == "SUCCEEDED"
    assert finished.output == {"label": "T-1", "fixed": 1}
    assert finished.vars == {"label": "T-1"}
    assert [r.step_id for r in interp.drain_records()] == ["set", "done"]
    assert interp.state.frames == []


def test_return_without_output_and_running_off_the_end_give_no_output() -> None:
    _, _, returned = run(definition({"id": "done", "type": "control.return"}))
    _, _, ended = run(definition(assign("a", a=1)))
    assert (returned.status, returned.output) == ("SUCCEEDED", None)
    assert (ended.status, ended.output) == ("SUCCEEDED", None)


def test_return_deep_inside_containers_closes_them_as_succeeded() -> None:
    ret = {"id": "ret", "type": "control.return", "output": expr("item")}
    steps = definition(
        try_step("guard", [loop("loop", [1, 2, 3], [if_step("check", expr("item = 2"), [ret])])], []),
        assign("never", never=True),
    )
    interp, _, finished = run(steps)
    assert (finished.status, finished.output) == ("SUCCEEDED", 2)
    final = {(r.step_id, r.iteration): r for r in interp.drain_records()}
    for key in [("guard", None), ("loop", None), ("check", "1"), ("ret", "1")]:
        assert final[key].status == "SUCCEEDED", key
        assert final[key].completed_at is not None
    assert ("check", "2") not in final
    assert ("never", None) not in final


def test_return_output_error_fails_the_run() -> None:
    _, _, finished = run({"id": "done", "type": "control.return", "output": expr("$number('x') + 1")})
    assert finished.status == "FAILED" and finished.error is not None and finished.error["stepId"] == "done"


def test_finished_run_keeps_returning_the_same_finished() -> None:
    interp = make(definition(assign("a", a=1)))
    first = interp.next_effect()
    assert interp.next_effect() == first


def test_catch_inside_a_loop_sees_both_the_error_and_the_loop_locals() -> None:
    guarded = try_step(
        "guard", [bad("boom")], [assign("note", notes=expr("$append(vars.notes, [[item, error.stepId]])"))]
    )
    _, _, finished = run(definition(assign("init", notes=[]), loop("loop", ["a", "b"], [guarded])))
    assert finished.vars["notes"] == [["a", "boom"], ["b", "boom"]]
