"""Pure control flow: state.assign, control.if and control.forEach."""

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.interpreter.effects import ActionFailed, ActionSucceeded, RunAction
from tests.unit.interpreter.support import action, assign, bad, definition, expr, if_step, loop, rows, run

# -- state.assign -------------------------------------------------------------------------------------


def test_assign_is_sequential_each_value_sees_the_ones_before() -> None:
    _, effects, finished = run(
        {
            "id": "calc",
            "type": "state.assign",
            "assign": {
                "vars.count": expr("payload.n + 1"),
                "vars.label": expr("'T-' & $string(vars.count)"),
                "vars.count2": expr("vars.count * 10"),
                "vars.nested.deep.value": [expr("vars.label"), {"k": expr("vars.count2")}],
            },
        },
        payload={"n": 1},
    )
    assert effects == []
    assert finished.status == "SUCCEEDED"
    assert finished.vars == {
        "count": 2,
        "label": "T-2",
        "count2": 20,
        "nested": {"deep": {"value": ["T-2", {"k": 20}]}},
    }


def test_assign_overwrites_and_indexes_into_existing_lists() -> None:
    _, _, finished = run(
        definition(
            assign("init", xs=["a", "b", "c"], x=1),
            {"id": "set", "type": "state.assign", "assign": {"vars.xs.1": "B", "vars.x": 2}},
        )
    )
    assert finished.vars == {"xs": ["a", "B", "c"], "x": 2}


@pytest.mark.parametrize(
    ("target", "reason"),
    [("vars.x.y", "leads into a int"), ("vars.xs.5", "past the end"), ("vars.bad-name", "neither an identifier")],
)
def test_assign_to_an_unusable_path_is_an_expression_error(target: str, reason: str) -> None:
    interp, _, finished = run(
        definition(
            assign("init", x=5, xs=[1]),
            {"id": "set", "type": "state.assign", "assign": {target: 1}},
            assign("never", never=True),
        )
    )
    assert finished.status == "FAILED"
    assert finished.error is not None
    assert (finished.error["category"], finished.error["stepPath"], finished.error["stepId"]) == (
        "ExpressionError",
        "root.steps[1]",
        "set",
    )
    assert reason in finished.error["message"]
    assert "never" not in finished.vars
    assert rows(interp.drain_records())[-1] == ("root.steps[1]", "set", "FAILED", 1)


def test_expression_error_names_the_expression_and_the_step() -> None:
    _, _, finished = run(definition(assign("ok", a=1), bad("calc")))
    assert finished.error is not None
    assert finished.error["category"] == "ExpressionError"
    assert finished.error["stepPath"] == "root.steps[1]"
    assert "$number('abc') + 1" in finished.error["message"]


# -- control.if ---------------------------------------------------------------------------------------


def branching() -> dict[str, Any]:
    return if_step(
        "route",
        expr("payload.priority = 'high'"),
        [assign("page", route="pager")],
        [assign("queue", route="queue")],
    )


def test_if_runs_then_when_the_condition_holds() -> None:
    interp, _, finished = run(definition(branching(), assign("after", done=True)), payload={"priority": "high"})
    assert finished.vars == {"route": "pager", "done": True}
    assert rows(interp.drain_records()) == [
        ("root.steps[0]", "route", "SUCCEEDED", 1),
        ("root.steps[0].then[0]", "page", "SUCCEEDED", 1),
        ("root.steps[1]", "after", "SUCCEEDED", 1),
    ]


def test_if_runs_else_otherwise() -> None:
    interp, _, finished = run(definition(branching()), payload={"priority": "low"})
    assert finished.vars == {"route": "queue"}
    assert ("root.steps[0].else[0]", "queue", "SUCCEEDED", 1) in rows(interp.drain_records())


def test_if_without_else_does_nothing_when_false() -> None:
    interp, _, finished = run(
        definition(if_step("maybe", False, [assign("yes", yes=True)]), assign("after", after=True))
    )
    assert finished.vars == {"after": True}
    assert rows(interp.drain_records()) == [
        ("root.steps[0]", "maybe", "SUCCEEDED", 1),
        ("root.steps[1]", "after", "SUCCEEDED", 1),
    ]


def test_if_with_empty_then_does_nothing_when_true() -> None:
    _, _, finished = run(definition(if_step("maybe", True, [], [assign("no", no=True)]), assign("after", a=1)))
    assert finished.vars == {"a": 1}


@pytest.mark.parametrize(
    ("value", "branch"),
    [
        (0, "else"),
        (1, "then"),
        ("", "else"),
        ("x", "then"),
        ([], "else"),
        ([1], "then"),
        (None, "else"),
        (True, "then"),
    ],
)
def test_if_truthiness(value: Any, branch: str) -> None:
    _, _, finished = run(
        if_step("t", expr("payload.v"), [assign("a", b="then")], [assign("b", b="else")]), payload={"v": value}
    )
    assert finished.vars == {"b": branch}


def test_if_condition_error_fails_the_if_step() -> None:
    interp, _, finished = run(if_step("route", expr("$number('x') > 1"), [assign("a", a=1)]))
    assert finished.error is not None and finished.error["stepId"] == "route"
    assert rows(interp.drain_records()) == [("root.steps[0]", "route", "FAILED", 1)]


# -- control.forEach ----------------------------------------------------------------------------------


def test_for_each_binds_item_var_index_length_first_and_last() -> None:
    body = [
        assign(
            "note",
            seen=expr(
                "$append(vars.seen, [{'line': line, 'index': index, 'length': length, "
                "'isFirst': isFirst, 'isLast': isLast}])"
            ),
        )
    ]
    _, _, finished = run(
        definition(assign("init", seen=[]), loop("loop", expr("payload.items"), body, itemVar="line")),
        payload={"items": ["a", "b", "c"]},
    )
    assert finished.vars["seen"] == [
        {"line": "a", "index": 0, "length": 3, "isFirst": True, "isLast": False},
        {"line": "b", "index": 1, "length": 3, "isFirst": False, "isLast": False},
        {"line": "c", "index": 2, "length": 3, "isFirst": False, "isLast": True},
    ]


def test_for_each_default_item_var_is_item_and_locals_do_not_leak() -> None:
    _, _, finished = run(
        definition(
            loop("loop", [10, 20], [assign("last", last=expr("item"))]),
            assign("after", item=expr("item"), index=expr("index")),
        )
    )
    assert finished.vars == {"last": 20, "item": None, "index": None}


def test_for_each_single_element_list_is_still_a_list() -> None:
    _, _, finished = run(
        loop("loop", expr("payload.xs"), [assign("add", seen=expr("item"))]), payload={"xs": [{"a": 1}]}
    )
    assert finished.status == "SUCCEEDED" and finished.vars == {"seen": {"a": 1}}


@pytest.mark.parametrize("items", [[], None])
def test_for_each_over_nothing_skips_the_body(items: Any) -> None:
    interp, _, finished = run(
        definition(loop("loop", expr("payload.items"), [assign("body", ran=True)]), assign("after", after=True)),
        payload={"items": items},
    )
    assert finished.vars == {"after": True}
    assert rows(interp.drain_records()) == [
        ("root.steps[0]", "loop", "SUCCEEDED", 1),
        ("root.steps[1]", "after", "SUCCEEDED", 1),
    ]


@pytest.mark.parametrize("items", [{"a": 1}, "abc", 3, True])
def test_for_each_over_a_single_value_runs_once_as_jsonata_sequences_do(items: Any) -> None:
    # A JSONata path that matches one thing yields that thing, not a one-element array.
    steps = definition(loop("loop", expr("payload.items"), [assign("body", seen=expr("item"))]))
    _, _, finished = run(steps, payload={"items": items})
    assert finished.status == "SUCCEEDED", finished.error
    assert finished.vars == {"seen": items}


def test_for_each_over_a_filter_matching_one_object_iterates_once() -> None:
    steps = definition(loop("loop", expr("payload.lines[price > 10]"), [assign("body", name=expr("item.name"))]))
    _, _, finished = run(steps, payload={"lines": [{"name": "a", "price": 5}, {"name": "b", "price": 50}]})
    assert finished.vars == {"name": "b"}


def test_for_each_runs_actions_with_loop_locals_in_their_input() -> None:
    steps = definition(
        assign("init", total=0),
        loop(
            "loop",
            expr("payload.items"),
            [
                action("echo-line", input={"name": expr("line.name"), "position": expr("index")}, saveAs="vars.last"),
                assign("add", total=expr("vars.total + line.price")),
            ],
            itemVar="line",
        ),
    )
    items = [{"name": "a", "price": 1.5}, {"name": "b", "price": 2}]
    interp, effects, finished = run(steps, payload={"items": items})
    assert [e.input for e in effects if isinstance(e, RunAction)] == [
        {"name": "a", "position": 0},
        {"name": "b", "position": 1},
    ]
    assert finished.vars == {"total": 3.5, "last": {"name": "b", "position": 1}}
    body = [(r.path, r.iteration) for r in interp.drain_records() if ".body" in r.path]
    assert body == [
        ("root.steps[1].body[0]", "0"),
        ("root.steps[1].body[1]", "0"),
        ("root.steps[1].body[0]", "1"),
        ("root.steps[1].body[1]", "1"),
    ]


def test_nested_loops_label_iterations_outer_dot_inner() -> None:
    inner = loop("inner", expr("outer"), [assign("mark", marks=expr("$append(vars.marks, [item])"))])
    interp, _, finished = run(
        definition(assign("init", marks=[]), loop("outer-loop", [[1, 2], [3]], [inner], itemVar="outer"))
    )
    assert finished.vars["marks"] == [1, 2, 3]
    labels = [(r.step_id, r.iteration) for r in interp.drain_records()]
    assert labels == [
        ("init", None),
        ("outer-loop", None),
        ("inner", "0"),
        ("mark", "0.0"),
        ("mark", "0.1"),
        ("inner", "1"),
        ("mark", "1.0"),
    ]


def test_inner_item_shadows_outer_item_with_the_same_name() -> None:
    inner = loop("inner", [10], [assign("mark", seen=expr("$append(vars.seen, [[item, index]])"))])
    _, _, finished = run(definition(assign("init", seen=[]), loop("outer", [1, 2], [inner])))
    assert finished.vars["seen"] == [[10, 0], [10, 0]]


def test_on_item_error_continue_skips_the_failed_item() -> None:
    body = [
        action("charge", input={"n": expr("item")}),
        assign("ok", done=expr("$append(vars.done, [item])")),
    ]
    steps = definition(
        assign("init", done=[]),
        loop("loop", [1, 2, 3], body, onItemError="continue"),
        assign("after", after=True),
    )

    def respond(effect: Any) -> Any:
        if effect.input == {"n": 2}:
            return ActionFailed(category="ActionError", message="card declined")
        return ActionSucceeded(output=None)

    interp, _, finished = run(steps, respond)
    assert finished.status == "SUCCEEDED"
    assert finished.vars == {"done": [1, 3], "after": True}
    records = [(r.step_id, r.iteration, r.status) for r in interp.drain_records()]
    assert ("charge", "1", "FAILED") in records
    assert ("ok", "1", "SUCCEEDED") not in records
    assert ("loop", None, "SUCCEEDED") in records


def test_on_item_error_continue_on_the_last_item_finishes_the_loop() -> None:
    steps = definition(loop("loop", [1, 2], [bad("boom")], onItemError="continue"), assign("after", after=True))
    _, _, finished = run(steps)
    assert finished.status == "SUCCEEDED" and finished.vars == {"after": True}


def test_on_item_error_fail_fails_the_loop_and_the_run() -> None:
    steps = definition(loop("loop", [1, 2, 3], [if_step("check", expr("item = 2"), [bad("boom")])]))
    interp, _, finished = run(steps)
    assert finished.status == "FAILED"
    assert finished.error is not None
    assert (finished.error["stepPath"], finished.error["stepId"]) == ("root.steps[0].body[0].then[0]", "boom")
    final = {(r.step_id, r.iteration): r for r in interp.drain_records()}
    assert final[("loop", None)].status == "FAILED" and final[("loop", None)].error == finished.error
    assert final[("check", "1")].status == "FAILED"
    assert ("check", "2") not in final


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=-(10**9), max_value=10**9), max_size=30))
def test_for_each_sums_any_list_of_ints(numbers: list[int]) -> None:
    steps = definition(
        assign("init", total=0, count=0),
        loop(
            "loop",
            expr("payload.numbers"),
            [assign("add", total=expr("vars.total + n"), count=expr("vars.count + 1"))],
            itemVar="n",
        ),
    )
    interp, _, finished = run(steps, payload={"numbers": numbers})
    assert finished.status == "SUCCEEDED"
    assert finished.vars == {"total": sum(numbers), "count": len(numbers)}
    assert interp.state.step_rows == 2 + len(numbers)


def test_for_each_iterates_over_a_snapshot_of_its_items() -> None:
    body = [assign("grow", xs=expr("$append(vars.xs, [item * 10])"), seen=expr("$append(vars.seen, [item])"))]
    _, _, finished = run(definition(assign("init", xs=[1, 2], seen=[]), loop("loop", expr("vars.xs"), body)))
    assert finished.vars == {"xs": [1, 2, 10, 20], "seen": [1, 2]}
