"""Definition and step models: every step type parses, defaults, aliases, strictness, immutability."""

from typing import Any

import pytest
from pydantic import ValidationError

from engine.dsl import models as m


def definition(*steps: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"id": "wf", "version": 1, "name": "Workflow", "steps": list(steps), **fields}


def parse_step(step: dict[str, Any]) -> m.Step:
    return m.Definition.model_validate(definition(step)).steps[0]


EXPR = {"$expr": "payload.x"}

EVERY_STEP_TYPE: list[tuple[dict[str, Any], type[Any]]] = [
    ({"id": "a", "type": "action.call", "action": "core.echo", "version": 1}, m.ActionCallStep),
    ({"id": "a", "type": "state.assign", "assign": {"vars.x": 1}}, m.AssignStep),
    ({"id": "a", "type": "control.if", "condition": EXPR, "then": []}, m.IfStep),
    ({"id": "a", "type": "control.forEach", "items": EXPR, "body": []}, m.ForEachStep),
    ({"id": "a", "type": "control.tryCatch", "try": []}, m.TryCatchStep),
    ({"id": "a", "type": "control.callWorkflow", "workflowId": "child"}, m.CallWorkflowStep),
    ({"id": "a", "type": "control.return"}, m.ReturnStep),
    ({"id": "a", "type": "time.wait", "durationMs": 10}, m.TimeWaitStep),
    ({"id": "a", "type": "event.wait", "eventName": "paid", "correlationKey": EXPR}, m.EventWaitStep),
    ({"id": "a", "type": "human.task", "taskType": "approve", "title": "Approve?"}, m.HumanTaskStep),
]


@pytest.mark.parametrize(("raw", "model"), EVERY_STEP_TYPE, ids=[raw["type"] for raw, _ in EVERY_STEP_TYPE])
def test_every_step_type_parses_to_its_model(raw: dict[str, Any], model: type[Any]) -> None:
    step = parse_step(raw)
    assert type(step) is model
    assert step.model_dump(mode="json", exclude_unset=True) == raw


def test_action_call_fields_and_defaults() -> None:
    step = parse_step({"id": "a", "type": "action.call", "action": "core.echo", "version": 2})
    assert isinstance(step, m.ActionCallStep)
    assert (step.input, step.save_as, step.idempotency_key) == ({}, None, None)
    assert step.retry == m.RetryPolicy(
        max_attempts=1, backoff_ms=1000, backoff_multiplier=2.0, max_delay_ms=60_000, retry_on=None
    )
    assert step.on_error.policy == "fail"


def test_action_call_full() -> None:
    raw = {
        "id": "lookup", "type": "action.call", "action": "http.request", "version": 1,
        "input": {"url": {"$expr": "payload.url"}, "method": "GET"}, "saveAs": "vars.lookup",
        "idempotencyKey": {"$expr": "payload.id"},
        "retry": {"maxAttempts": 3, "backoffMs": 10, "backoffMultiplier": 1.5, "maxDelayMs": 100,
                  "retryOn": ["TimeoutError", "NetworkError"]},
        "onError": {"policy": "continue"},
    }  # fmt: skip
    step = parse_step(raw)
    assert isinstance(step, m.ActionCallStep)
    assert step.input == {"url": {"$expr": "payload.url"}, "method": "GET"}
    assert (step.save_as, step.idempotency_key) == ("vars.lookup", {"$expr": "payload.id"})
    assert step.retry.retry_on == ("TimeoutError", "NetworkError")
    assert (step.retry.max_attempts, step.retry.backoff_multiplier, step.on_error.policy) == (3, 1.5, "continue")
    assert step.model_dump(mode="json") == {**raw, "type": "action.call"}


def test_control_if_branches_and_else_alias() -> None:
    step = parse_step({"id": "i", "type": "control.if", "condition": True,
                       "then": [{"id": "t", "type": "control.return"}],
                       "else": [{"id": "e", "type": "control.return", "output": 1}]})  # fmt: skip
    assert isinstance(step, m.IfStep)
    assert [s.id for s in step.then] == ["t"]
    assert [s.id for s in step.else_] == ["e"]
    assert [name for name, _ in step.branches()] == ["then", "else"]
    assert step.model_dump(mode="json")["else"] == [{"id": "e", "type": "control.return", "output": 1}]


def test_for_each_defaults() -> None:
    step = parse_step({"id": "f", "type": "control.forEach", "items": [1, 2], "body": []})
    assert isinstance(step, m.ForEachStep)
    assert (step.item_var, step.on_item_error, step.concurrency) == ("item", "fail", 1)


def test_try_catch_alias_and_capture() -> None:
    step = parse_step({"id": "t", "type": "control.tryCatch", "try": [{"id": "x", "type": "control.return"}],
                       "catch": [], "captureErrorAs": "err"})  # fmt: skip
    assert isinstance(step, m.TryCatchStep)
    assert ([s.id for s in step.try_], step.catch, step.capture_error_as) == (["x"], (), "err")
    assert [name for name, _ in step.branches()] == ["try", "catch"]


@pytest.mark.parametrize(("version", "expected"), [(None, "latest"), ("latest", "latest"), (3, 3)])
def test_call_workflow_version(version: Any, expected: Any) -> None:
    raw: dict[str, Any] = {"id": "c", "type": "control.callWorkflow", "workflowId": "child",
                           "inputMapping": {"id": EXPR}, "outputMapping": {"vars.r": {"$expr": "output"}}}  # fmt: skip
    if version is not None:
        raw["workflowVersion"] = version
    step = parse_step(raw)
    assert isinstance(step, m.CallWorkflowStep)
    assert step.workflow_version == expected
    assert (step.input_mapping, step.output_mapping) == ({"id": EXPR}, {"vars.r": {"$expr": "output"}})


@pytest.mark.parametrize("version", [0, "3", "newest", True, 1.5])
def test_call_workflow_bad_version(version: Any) -> None:
    with pytest.raises(ValidationError, match='must be a version number >= 1 or "latest"'):
        parse_step({"id": "c", "type": "control.callWorkflow", "workflowId": "w", "workflowVersion": version})


def test_time_wait_until_and_assign() -> None:
    step = parse_step({"id": "w", "type": "time.wait", "until": {"$expr": "payload.due"},
                       "assign": {"vars.woke": {"$expr": "$nowIso()"}}})  # fmt: skip
    assert isinstance(step, m.TimeWaitStep)
    assert (step.duration_ms, step.until) == (None, {"$expr": "payload.due"})
    assert step.assign == {"vars.woke": {"$expr": "$nowIso()"}}


@pytest.mark.parametrize("value", [0, 5000, {"$expr": "vars.delay"}, None])
def test_durations_accept_whole_milliseconds_or_expressions(value: Any) -> None:
    step = parse_step({"id": "w", "type": "time.wait", "durationMs": value})
    assert isinstance(step, m.TimeWaitStep)
    assert step.duration_ms == value


@pytest.mark.parametrize("value", [-1, 1.5, "10", True, {"$expr": "x", "y": 1}])
def test_durations_reject_other_values(value: Any) -> None:
    with pytest.raises(ValidationError, match="whole number of milliseconds"):
        parse_step({"id": "e", "type": "event.wait", "eventName": "x", "correlationKey": "k", "timeoutMs": value})


def test_event_wait_filters() -> None:
    step = parse_step({"id": "e", "type": "event.wait", "eventName": "paid", "correlationKey": EXPR,
                       "filters": [{"path": "amount", "op": ">", "value": 10}, {"path": "ok", "op": "exists"}],
                       "timeoutMs": 1000, "saveAs": "vars.event"})  # fmt: skip
    assert isinstance(step, m.EventWaitStep)
    assert step.filters == (m.EventFilter(path="amount", op=">", value=10), m.EventFilter(path="ok", op="exists"))
    assert (step.timeout_ms, step.save_as) == (1000, "vars.event")


def test_event_wait_rejects_unknown_filter_op() -> None:
    with pytest.raises(ValidationError, match="literal_error"):
        parse_step({"id": "e", "type": "event.wait", "eventName": "x", "correlationKey": "k",
                    "filters": [{"path": "a", "op": "~="}]})  # fmt: skip


def test_human_task_fields() -> None:
    step = parse_step({"id": "h", "type": "human.task", "taskType": "approval", "title": EXPR,
                       "description": "Please check", "formSchema": {"type": "object"},
                       "contextData": {"ticket": EXPR}, "timeoutMs": 60000, "saveAs": "vars.answer"})  # fmt: skip
    assert isinstance(step, m.HumanTaskStep)
    assert (step.task_type, step.title, step.form_schema) == ("approval", EXPR, {"type": "object"})
    assert (step.context_data, step.timeout_ms, step.save_as) == ({"ticket": EXPR}, 60000, "vars.answer")


def test_return_output() -> None:
    step = parse_step({"id": "r", "type": "control.return", "output": {"ok": True}})
    assert isinstance(step, m.ReturnStep)
    assert step.output == {"ok": True}


def test_definition_defaults() -> None:
    parsed = m.Definition.model_validate(definition())
    assert (parsed.description, parsed.payload_schema, parsed.redact) == (None, {}, ())
    assert parsed.trigger == m.ManualTrigger()


@pytest.mark.parametrize(
    ("trigger", "model"),
    [({"type": "manual"}, m.ManualTrigger), ({"type": "event", "eventName": "ticket.created"}, m.EventTrigger),
     ({"type": "schedule", "cron": "*/5 * * * *"}, m.ScheduleTrigger)],
)  # fmt: skip
def test_triggers(trigger: dict[str, Any], model: type[Any]) -> None:
    parsed = m.Definition.model_validate(definition(trigger=trigger))
    assert type(parsed.trigger) is model
    assert parsed.model_dump(mode="json")["trigger"] == trigger


def test_unknown_step_type_is_rejected() -> None:
    with pytest.raises(ValidationError, match="union_tag_invalid"):
        parse_step({"id": "x", "type": "action.cal"})


def test_unknown_fields_are_rejected() -> None:
    with pytest.raises(ValidationError, match="saveas"):
        parse_step({"id": "a", "type": "action.call", "action": "x", "version": 1, "saveas": "vars.x"})


@pytest.mark.parametrize("version", ["1", 1.0, True, 0])
def test_versions_are_strict_positive_integers(version: Any) -> None:
    with pytest.raises(ValidationError):
        m.Definition.model_validate(definition(version=version))


def test_python_names_and_json_names_are_both_accepted() -> None:
    by_name = m.ActionCallStep(id="a", type="action.call", action="x", version=1, save_as="vars.x")
    by_alias = m.ActionCallStep.model_validate(
        {"id": "a", "type": "action.call", "action": "x", "version": 1, "saveAs": "vars.x"}
    )
    assert by_name == by_alias
    assert by_name.model_dump()["saveAs"] == "vars.x"


def test_models_are_frozen() -> None:
    parsed = m.Definition.model_validate(definition({"id": "r", "type": "control.return"}))
    with pytest.raises(ValidationError, match="frozen"):
        parsed.name = "other"  # type: ignore[misc]
    assert isinstance(parsed.steps, tuple)


def test_round_trip_through_json() -> None:
    raw = definition(
        {"id": "loop", "type": "control.forEach", "items": EXPR, "itemVar": "t", "body": [
            {"id": "try", "type": "control.tryCatch", "try": [
                {"id": "call", "type": "action.call", "action": "core.echo", "version": 1}],
             "catch": [{"id": "log", "type": "state.assign", "assign": {"vars.failed": True}}]}]},
        description="d", payloadSchema={"type": "object"}, redact=["customer.ssn"],
    )  # fmt: skip
    parsed = m.Definition.model_validate(raw)
    assert m.Definition.model_validate(parsed.model_dump(mode="json")) == parsed
    assert m.Definition.model_validate_json(parsed.model_dump_json()) == parsed


@pytest.mark.parametrize(("raw", "model"), EVERY_STEP_TYPE, ids=[raw["type"] for raw, _ in EVERY_STEP_TYPE])
def test_step_branches_table_matches_the_models(raw: dict[str, Any], model: type[Any]) -> None:
    step = parse_step(raw)
    assert tuple(name for name, _ in step.branches()) == m.STEP_BRANCHES.get(raw["type"], ())
