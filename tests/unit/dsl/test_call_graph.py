"""The self-call check behind publish warnings: which steps call which workflows, and which can loop back."""

from typing import Any

from engine.dsl.call_graph import ChildCall, Node, child_calls, self_cycles

NOTE = "runs stop at child depth 16 with ChildDepthExceeded"


def call(step_id: str, workflow_id: str, version: Any = "latest") -> dict[str, Any]:
    return {"id": step_id, "type": "control.callWorkflow", "workflowId": workflow_id, "workflowVersion": version}


def resolver(graph: dict[Node, list[ChildCall]], latest: dict[str, int]) -> Any:
    def resolve(workflow_id: str, version: int | None) -> tuple[Node, list[ChildCall]] | None:
        node = (workflow_id, latest.get(workflow_id, 0) if version is None else version)
        return (node, graph[node]) if node in graph else None

    return resolve


def test_child_calls_have_runtime_step_paths_in_every_branch() -> None:
    raw = {
        "steps": [
            call("top", "x"),
            {"id": "if", "type": "control.if", "condition": True, "then": [call("in-then", "y", 2)],
             "else": [{"id": "loop", "type": "control.forEach", "items": [], "body": [call("in-body", "z")]}]},
            {"id": "try", "type": "control.tryCatch", "try": [], "catch": [call("in-catch", "x", 3)]},
            {"id": "bad", "type": "control.callWorkflow", "workflowId": 5},
        ]
    }  # fmt: skip
    assert child_calls(raw) == [
        ChildCall("root.steps[0]", "x", None),
        ChildCall("root.steps[1].then[0]", "y", 2),
        ChildCall("root.steps[1].else[0].body[0]", "z", None),
        ChildCall("root.steps[2].catch[0]", "x", 3),
    ]


def test_a_direct_self_call_is_named() -> None:
    calls = [ChildCall("root.steps[0]", "a", None)]
    graph = {("a", 1): calls}
    assert self_cycles(("a", 1), calls, resolver(graph, {"a": 1})) == [
        f"root.steps[0]: can call itself (a → a); {NOTE}"
    ]


def test_the_shortest_cycle_through_other_definitions_is_named() -> None:
    start = ("a", 2)
    calls = [ChildCall("root.steps[0]", "b", None), ChildCall("root.steps[1]", "d", None)]
    graph: dict[Node, list[ChildCall]] = {
        start: calls,
        ("b", 1): [ChildCall("root.steps[0]", "c", None), ChildCall("root.steps[1]", "a", None)],
        ("c", 1): [ChildCall("root.steps[0]", "a", None)],
        ("d", 1): [],
    }
    assert self_cycles(start, calls, resolver(graph, {"a": 2, "b": 1, "c": 1, "d": 1})) == [
        f"root.steps[0]: can call itself (a → b → a); {NOTE}"
    ]


def test_a_cycle_that_does_not_pass_through_the_definition_gives_no_warning() -> None:
    start = ("a", 1)
    calls = [ChildCall("root.steps[0]", "b", None)]
    graph: dict[Node, list[ChildCall]] = {
        start: calls,
        ("b", 1): [ChildCall("root.steps[0]", "c", None)],
        ("c", 1): [ChildCall("root.steps[0]", "b", None)],
    }
    assert self_cycles(start, calls, resolver(graph, {"b": 1, "c": 1})) == []


def test_a_pinned_older_version_is_another_node() -> None:
    start = ("a", 2)
    calls = [ChildCall("root.steps[0]", "b", None)]
    graph: dict[Node, list[ChildCall]] = {start: calls, ("b", 1): [ChildCall("root.steps[0]", "a", 1)], ("a", 1): []}
    assert self_cycles(start, calls, resolver(graph, {"a": 2, "b": 1})) == []


def test_a_call_to_nothing_published_cannot_cycle() -> None:
    calls = [ChildCall("root.steps[0]", "missing", None)]
    assert self_cycles(("a", 1), calls, resolver({("a", 1): calls}, {})) == []
