"""Publish-time validation: each rule reports the exact JSON path, and every problem is reported at once."""

from typing import Any

import pytest

from engine.dsl.models import Definition
from engine.dsl.validate import DefinitionInvalid, Problem, json_path, validate_definition

ACTIONS = {("core.echo", 1), ("core.log", 1)}
WORKFLOWS = {("child", 2)}


def action_exists(name: str, version: int) -> bool:
    return (name, version) in ACTIONS


def workflow_exists(workflow_id: str, version: int | None) -> bool:
    return any(wid == workflow_id and version in (None, v) for wid, v in WORKFLOWS)


def definition(*steps: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"id": "wf", "version": 1, "name": "Workflow", "steps": list(steps), **fields}


def echo(step_id: str = "echo", **fields: Any) -> dict[str, Any]:
    return {"id": step_id, "type": "action.call", "action": "core.echo", "version": 1, **fields}


def problems_of(raw: Any) -> list[Problem]:
    with pytest.raises(DefinitionInvalid) as caught:
        validate_definition(raw, action_exists=action_exists, workflow_exists=workflow_exists)
    return caught.value.problems


def only_problem(raw: Any) -> Problem:
    (problem,) = problems_of(raw)
    return problem


def test_a_valid_definition_is_returned_parsed() -> None:
    raw = definition(
        echo(input={"x": {"$expr": "payload.x"}}, saveAs="vars.echoed"),
        {"id": "call", "type": "control.callWorkflow", "workflowId": "child", "workflowVersion": 2,
         "outputMapping": {"vars.child.out": {"$expr": "output"}}},
        {"id": "self", "type": "control.callWorkflow", "workflowId": "wf"},
        {"id": "try", "type": "control.tryCatch", "try": [echo("inner")], "catch": [], "captureErrorAs": "err"},
        {"id": "loop", "type": "control.forEach", "items": {"$expr": "payload.items"}, "itemVar": "ticket",
         "body": [{"id": "set", "type": "state.assign", "assign": {"vars.last": {"$expr": "$ticket.id"}}}]},
        {"id": "wait", "type": "time.wait", "durationMs": 0, "assign": {"vars.woke": {"$expr": "$nowIso()"}}},
        {"id": "task", "type": "human.task", "taskType": "ok", "title": "OK?",
         "formSchema": {"type": "object", "required": ["ok"]}, "saveAs": "vars.answer"},
        payloadSchema={"type": "object", "properties": {"x": {"type": "string"}}},
    )  # fmt: skip
    parsed = validate_definition(raw, action_exists=action_exists, workflow_exists=workflow_exists)
    assert isinstance(parsed, Definition)
    assert [step.id for step in parsed.steps] == ["echo", "call", "self", "try", "loop", "wait", "task"]


class TestStructure:
    def test_pydantic_errors_become_json_paths_without_union_tags(self) -> None:
        raw = definition({"id": "i", "type": "control.if", "condition": True,
                          "then": [echo(retry={"maxAttempts": 0})]})  # fmt: skip
        assert only_problem(raw) == Problem(
            "$.steps[0].then[0].retry.maxAttempts", "Input should be greater than or equal to 1"
        )

    def test_missing_field(self) -> None:
        assert only_problem(definition({"id": "a", "type": "action.call", "version": 1})) == Problem(
            "$.steps[0].action", "is required"
        )

    def test_unknown_field(self) -> None:
        assert only_problem(definition(echo(saveas="vars.x"))) == Problem(
            "$.steps[0].saveas", "is not a field of this object"
        )

    def test_unknown_step_type(self) -> None:
        problem = only_problem(definition({"id": "a", "type": "action.cal"}))
        assert problem.path == "$.steps[0]"
        assert problem.message.startswith("unknown type 'action.cal'; expected one of 'action.call'")

    def test_step_without_type(self) -> None:
        assert only_problem(definition({"id": "a"})) == Problem("$.steps[0]", 'needs a "type"')

    def test_trigger_errors_point_into_the_trigger(self) -> None:
        assert only_problem(definition(trigger={"type": "event"})) == Problem("$.trigger.eventName", "is required")

    def test_custom_messages_lose_the_pydantic_prefix(self) -> None:
        raw = definition({"id": "w", "type": "time.wait", "durationMs": -5})
        assert only_problem(raw) == Problem(
            "$.steps[0].durationMs",
            'must be a whole number of milliseconds >= 0 or an expression {"$expr": "..."}',
        )

    def test_not_an_object(self) -> None:
        (problem,) = problems_of(["not", "a", "definition"])
        assert problem.path == "$"

    def test_non_identifier_keys_are_quoted(self) -> None:
        raw = definition(echo(input={"a-b": {"$expr": "$eval('1')"}}))
        assert only_problem(raw).path == '$.steps[0].input["a-b"]'


class TestRules:
    def test_duplicate_step_ids_anywhere_in_the_tree(self) -> None:
        raw = definition(echo("same"), {"id": "t", "type": "control.tryCatch", "try": [], "catch": [echo("same")]})
        assert only_problem(raw) == Problem(
            "$.steps[1].catch[0].id", "duplicate step id 'same'; it is also the id of $.steps[0]"
        )

    def test_unknown_action(self) -> None:
        raw = definition({"id": "a", "type": "action.call", "action": "core.echo", "version": 2})
        assert only_problem(raw) == Problem("$.steps[0].action", "unknown action 'core.echo' version 2")

    def test_expression_that_does_not_compile_nested_in_input(self) -> None:
        raw = definition({"id": "i", "type": "control.if", "condition": True, "then": [], "else": [
            echo(input={"x": {"nested": [{"$expr": "payload.x +"}]}})]})  # fmt: skip
        problem = only_problem(raw)
        assert problem.path == "$.steps[0].else[0].input.x.nested[0]"
        assert problem.message.startswith("expression 'payload.x +': does not compile: ")

    def test_forbidden_function(self) -> None:
        raw = definition({"id": "i", "type": "control.if", "condition": {"$expr": "$random() > 0.5"}, "then": []})
        assert only_problem(raw) == Problem(
            "$.steps[0].condition",
            "expression '$random() > 0.5': $random is not allowed: "
            "it is not deterministic, so a replayed run could take another path",
        )

    def test_unknown_function(self) -> None:
        raw = definition(echo(idempotencyKey={"$expr": "$uuid()"}))
        problem = only_problem(raw)
        assert problem.path == "$.steps[0].idempotencyKey"
        assert "$uuid() is not a known function" in problem.message

    def test_a_call_of_a_bare_name_is_refused_with_its_path_and_a_suggestion(self) -> None:
        raw = definition(
            {"id": "set", "type": "state.assign", "assign": {"vars.total": {"$expr": "sum([1, 2])"}}},
            {"id": "i", "type": "control.if", "condition": True, "then": [echo(input={"n": {"$expr": "cont(1)"}})]},
        )
        assert problems_of(raw) == [
            Problem(
                '$.steps[0].assign["vars.total"]',
                "expression 'sum([1, 2])': sum() is not a function: a name without $ reads a field of the input; "
                "did you mean $sum?",
            ),
            Problem(
                "$.steps[1].then[0].input.n",
                "expression 'cont(1)': cont() is not a function: a name without $ reads a field of the input; "
                "did you mean $count?",
            ),
        ]

    def test_now_iso_bare_and_with_a_dollar_both_publish(self) -> None:
        raw = definition(
            {"id": "set", "type": "state.assign",
             "assign": {"vars.a": {"$expr": "nowIso()"}, "vars.b": {"$expr": "$nowIso()"}}},
        )  # fmt: skip
        parsed = validate_definition(raw, action_exists=action_exists, workflow_exists=workflow_exists)
        assert [step.id for step in parsed.steps] == ["set"]

    def test_expression_objects_must_be_well_formed(self) -> None:
        raw = definition(echo(input={"a": {"$expr": 5}, "b": {"$expr": "1", "extra": 2}}))
        assert problems_of(raw) == [
            Problem("$.steps[0].input.a", "the value of $expr must be a string"),
            Problem("$.steps[0].input.b", 'an expression object must have only the key "$expr"'),
        ]

    def test_expressions_outside_steps_are_checked_but_not_inside_schemas(self) -> None:
        schema = {"type": "object", "properties": {"$expr": {"type": "string"}}}
        raw = definition(
            {"id": "h", "type": "human.task", "taskType": "t", "title": {"$expr": "$eval('x')"}, "formSchema": schema},
            payloadSchema=schema,
            description={"$expr": "nope("},
        )
        paths = [problem.path for problem in problems_of(raw)]
        assert paths == ["$.description", "$.description", "$.steps[0].title"]

    @pytest.mark.parametrize(
        ("step", "path"),
        [
            (echo(saveAs="lookup"), "$.steps[0].saveAs"),
            ({"id": "e", "type": "event.wait", "eventName": "x", "correlationKey": "k", "saveAs": "payload.x"},
             "$.steps[0].saveAs"),
            ({"id": "h", "type": "human.task", "taskType": "t", "title": "T", "saveAs": "vars.a-b"},
             "$.steps[0].saveAs"),
            ({"id": "s", "type": "state.assign", "assign": {"vars.ok": 1, "bad": 2}}, "$.steps[0].assign.bad"),
            ({"id": "w", "type": "time.wait", "durationMs": 1, "assign": {"vars.": 1}}, '$.steps[0].assign["vars."]'),
            ({"id": "c", "type": "control.callWorkflow", "workflowId": "child", "outputMapping": {"result": 1}},
             "$.steps[0].outputMapping.result"),
        ],
    )  # fmt: skip
    def test_assignable_paths(self, step: dict[str, Any], path: str) -> None:
        problem = only_problem(definition(step))
        assert problem.path == path
        assert "is not assignable" in problem.message

    def test_capture_error_as_is_a_name_not_a_path(self) -> None:
        raw = definition({"id": "t", "type": "control.tryCatch", "try": [], "captureErrorAs": "vars.err"})
        assert only_problem(raw) == Problem(
            "$.steps[0].captureErrorAs",
            "'vars.err' is not a name under vars (letters, digits and _); write \"err\" for vars.err",
        )

    def test_capture_error_as_must_be_an_identifier(self) -> None:
        raw = definition({"id": "t", "type": "control.tryCatch", "try": [], "captureErrorAs": "my err"})
        assert only_problem(raw).path == "$.steps[0].captureErrorAs"

    @pytest.mark.parametrize(
        ("item_var", "message"),
        [("payload", "'payload' is already a context name; choose another"),
         ("index", "'index' is already a context name; choose another"),
         ("my-item", "'my-item' is not a name (letters, digits and _)")],
    )  # fmt: skip
    def test_item_var(self, item_var: str, message: str) -> None:
        raw = definition({"id": "f", "type": "control.forEach", "items": [], "body": [], "itemVar": item_var})
        assert only_problem(raw) == Problem("$.steps[0].itemVar", message)

    def test_child_workflow_must_exist(self) -> None:
        raw = definition(
            {"id": "a", "type": "control.callWorkflow", "workflowId": "child", "workflowVersion": 3},
            {"id": "b", "type": "control.callWorkflow", "workflowId": "missing"},
            {"id": "c", "type": "control.callWorkflow", "workflowId": "child"},
        )
        assert problems_of(raw) == [
            Problem("$.steps[0].workflowId", "child workflow 'child' (version 3) does not exist"),
            Problem("$.steps[1].workflowId", "child workflow 'missing' (any version) does not exist"),
        ]

    def test_a_definition_may_call_itself_but_not_an_unpublished_version_of_itself(self) -> None:
        raw = definition(
            {"id": "a", "type": "control.callWorkflow", "workflowId": "wf", "workflowVersion": 1},
            {"id": "b", "type": "control.callWorkflow", "workflowId": "wf", "workflowVersion": 7},
        )
        assert only_problem(raw) == Problem("$.steps[1].workflowId", "child workflow 'wf' (version 7) does not exist")

    def test_parallel_for_each_is_rejected_with_a_clear_message(self) -> None:
        raw = definition({"id": "f", "type": "control.forEach", "items": [], "body": [], "concurrency": 4})
        assert only_problem(raw) == Problem(
            "$.steps[0].concurrency", "parallel forEach is not supported in this version; set concurrency to 1"
        )

    def test_payload_schema_must_be_a_json_schema(self) -> None:
        problem = only_problem(definition(payloadSchema={"type": "object", "properties": {"x": {"type": "strin"}}}))
        assert problem.path == "$.payloadSchema.properties.x.type"
        assert problem.message.startswith("not a valid JSON Schema: ")

    def test_form_schema_must_be_a_json_schema(self) -> None:
        raw = definition({"id": "h", "type": "human.task", "taskType": "t", "title": "T",
                          "formSchema": {"required": "ok"}})  # fmt: skip
        problem = only_problem(raw)
        assert problem.path == "$.steps[0].formSchema.required"
        assert problem.message == "not a valid JSON Schema: 'ok' is not of type 'array'"

    @pytest.mark.parametrize(
        "fields", [{}, {"durationMs": 5, "until": "2030-01-01T00:00:00Z"}, {"durationMs": None, "until": None}]
    )
    def test_time_wait_needs_exactly_one_of_duration_and_until(self, fields: dict[str, Any]) -> None:
        raw = definition({"id": "w", "type": "time.wait", **fields})
        assert only_problem(raw) == Problem("$.steps[0]", "time.wait needs exactly one of durationMs and until")

    @pytest.mark.parametrize("attempts", [0, -1])
    def test_max_attempts_at_least_one(self, attempts: int) -> None:
        assert only_problem(definition(echo(retry={"maxAttempts": attempts}))) == Problem(
            "$.steps[0].retry.maxAttempts", "Input should be greater than or equal to 1"
        )


def test_every_problem_is_reported_at_once() -> None:
    raw = definition(
        echo("a", saveAs="result", retry={"maxAttempts": 0}),
        {"id": "a", "type": "control.if", "condition": {"$expr": "$eval('1')"}, "then": [
            {"id": "w", "type": "time.wait"},
            {"id": "x", "type": "action.call", "action": "core.nope", "version": 1}]},
        {"id": "f", "type": "control.forEach", "items": [], "body": [], "concurrency": 2},
        {"id": "c", "type": "control.callWorkflow", "workflowId": "missing"},
        {"id": "bad", "type": "no.such.type"},
        payloadSchema={"type": 5},
    )  # fmt: skip
    problems = problems_of(raw)
    assert [problem.path for problem in problems] == [
        "$.steps[0].retry.maxAttempts",
        "$.steps[4]",
        "$.payloadSchema.type",
        "$.steps[0].saveAs",
        "$.steps[1].condition",
        "$.steps[1].id",
        "$.steps[1].then[0]",
        "$.steps[1].then[1].action",
        "$.steps[2].concurrency",
        "$.steps[3].workflowId",
    ]


def test_definition_invalid_lists_one_problem_per_line() -> None:
    error = DefinitionInvalid([Problem("$.a", "first"), Problem("$.b", "second")])
    assert str(error) == "$.a: first\n$.b: second"


@pytest.mark.parametrize(
    ("loc", "path"),
    [((), "$"), (("steps", 2, "then", 0, "input", "x"), "$.steps[2].then[0].input.x"),
     (("input", 'say "hi"'), '$.input["say \\"hi\\""]'), (("input", "é"), '$.input["é"]')],
)  # fmt: skip
def test_json_path(loc: tuple[str | int, ...], path: str) -> None:
    assert json_path(loc) == path
