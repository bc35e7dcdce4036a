"""Steps that wait on the outside world: time.wait, event.wait, human.task, control.callWorkflow."""

from datetime import timedelta
from typing import Any

import pytest

from engine.interpreter.effects import (
    ChildFailed,
    ChildSucceeded,
    HumanTask,
    Sleep,
    StartChild,
    TimerFired,
    WaitEvent,
    WaitResolved,
    WaitTimedOut,
)
from engine.interpreter.errors import InterpreterCorruption
from tests.unit.interpreter.support import T0, Clock, assign, definition, drive, expr, make, rows, run


def iso(moment: Any) -> str:
    return str(moment.isoformat().replace("+00:00", "Z"))


def guarded(try_: list[Any], catch: list[Any]) -> dict[str, Any]:
    return {"id": "guard", "type": "control.tryCatch", "try": try_, "catch": catch, "captureErrorAs": "err"}


# -- time.wait ----------------------------------------------------------------------------------------


def test_duration_wait_sleeps_on_the_workflow_timer_then_assigns() -> None:
    clock = Clock()
    interp = make(
        definition(
            {
                "id": "nap",
                "type": "time.wait",
                "durationMs": expr("payload.waitMs"),
                "assign": {"vars.woke": expr("$millis()")},
            },
            assign("after", after=expr("vars.woke")),
        ),
        payload={"waitMs": 600_000},
        clock=clock,
    )
    assert interp.next_effect() == Sleep(seq=1, path="root.steps[0]", duration_ms=600_000, is_wait=True)
    assert interp.state.vars == {}
    clock.advance(600_000)
    interp.resume(TimerFired())
    finished = interp.next_effect()
    woke = int((T0 + timedelta(minutes=10)).timestamp() * 1000)
    assert finished.kind == "finished" and finished.vars == {"woke": woke, "after": woke}
    nap = interp.drain_records()[0]
    assert (nap.status, nap.started_at, nap.completed_at) == ("SUCCEEDED", T0, T0 + timedelta(minutes=10))


def test_literal_duration() -> None:
    assert make({"id": "nap", "type": "time.wait", "durationMs": 1500}).next_effect() == Sleep(
        seq=1, path="root.steps[0]", duration_ms=1500, is_wait=True
    )


def test_zero_duration_does_not_sleep_but_still_assigns() -> None:
    interp, effects, finished = run(
        {"id": "nap", "type": "time.wait", "durationMs": expr("payload.n ? payload.n : 0"), "assign": {"vars.x": 1}}
    )
    assert effects == []
    assert finished.vars == {"x": 1}
    assert rows(interp.drain_records()) == [("root.steps[0]", "nap", "SUCCEEDED", 1)]


@pytest.mark.parametrize(
    ("value", "message"), [("payload.missing", "evaluated to null"), ("'soon'", "must be a number")]
)
def test_bad_duration_is_an_expression_error(value: str, message: str) -> None:
    _, _, finished = run({"id": "nap", "type": "time.wait", "durationMs": expr(value)})
    assert finished.error is not None
    assert finished.error["category"] == "ExpressionError" and message in finished.error["message"]


def test_until_in_the_past_does_not_sleep() -> None:
    _, effects, finished = run(
        definition(
            {"id": "already-due", "type": "time.wait", "until": "2000-01-01T00:00:00Z", "assign": {"vars.due": True}},
            assign("after", after=True),
        )
    )
    assert effects == []
    assert finished.vars == {"due": True, "after": True}


@pytest.mark.parametrize("seconds", [1, 5, 90, 3600, 86400 * 3])
def test_until_in_the_future_sleeps_the_difference(seconds: int) -> None:
    due = iso(T0 + timedelta(seconds=seconds))
    effect = make({"id": "nap", "type": "time.wait", "until": expr("payload.due")}, payload={"due": due}).next_effect()
    assert effect == Sleep(seq=1, path="root.steps[0]", duration_ms=seconds * 1000, is_wait=True)


def test_until_can_be_computed_from_the_deterministic_clock() -> None:
    step = {"id": "nap", "type": "time.wait", "until": expr("$fromMillis($millis() + 2500)")}
    assert make(step).next_effect() == Sleep(seq=1, path="root.steps[0]", duration_ms=2500, is_wait=True)


@pytest.mark.parametrize("ms", [1001, 1003, 1019])
def test_until_a_whole_number_of_ms_ahead_sleeps_exactly_that_long(ms: int) -> None:
    due = iso(T0 + timedelta(milliseconds=ms))
    effect = make({"id": "nap", "type": "time.wait", "until": due}).next_effect()
    assert isinstance(effect, Sleep) and effect.duration_ms == ms


@pytest.mark.parametrize(
    ("until", "message"), [("2030-01-01T00:00:00", "no time zone"), ("tomorrow", "not an ISO time")]
)
def test_bad_until_is_an_expression_error(until: str, message: str) -> None:
    _, _, finished = run({"id": "nap", "type": "time.wait", "until": until})
    assert finished.error is not None
    assert finished.error["category"] == "ExpressionError" and message in finished.error["message"]


def test_assign_error_after_the_timer_fails_the_wait() -> None:
    interp, effects, finished = run(
        {"id": "nap", "type": "time.wait", "durationMs": 10, "assign": {"vars.x": expr("$number('x') + 1")}}
    )
    assert len(effects) == 1
    assert finished.error is not None and finished.error["stepId"] == "nap"
    assert rows(interp.drain_records()) == [("root.steps[0]", "nap", "FAILED", 1)]


# -- event.wait ---------------------------------------------------------------------------------------


def event_wait(**fields: Any) -> dict[str, Any]:
    return {
        "id": "approval",
        "type": "event.wait",
        "eventName": "ticket.approved",
        "correlationKey": expr("payload.ticketId"),
        "saveAs": "vars.approval",
        **fields,
    }


def test_event_wait_effect_resolves_key_filters_and_timeout() -> None:
    step = event_wait(
        filters=[
            {"path": "amount", "op": ">", "value": expr("payload.minAmount")},
            {"path": "payload.kind", "op": "in", "value": ["a", expr("payload.kind")]},
            {"path": "by", "op": "exists"},
        ],
        timeoutMs=expr("payload.timeoutMs"),
    )
    effect = make(step, payload={"ticketId": 1001, "minAmount": 100, "kind": "b", "timeoutMs": 5000}).next_effect()
    assert effect == WaitEvent(
        seq=1,
        path="root.steps[0]",
        event_name="ticket.approved",
        correlation_key="1001",
        filters=[
            {"path": "amount", "op": ">", "value": 100},
            {"path": "payload.kind", "op": "in", "value": ["a", "b"]},
            {"path": "by", "op": "exists", "value": None},
        ],
        timeout_ms=5000,
    )


def test_event_wait_with_null_key_and_no_timeout() -> None:
    effect = make(event_wait(timeoutMs=expr("payload.timeoutMs")), payload={}).next_effect()
    assert isinstance(effect, WaitEvent)
    assert (effect.correlation_key, effect.timeout_ms, effect.filters) == (None, None, [])


def test_event_wait_resolved_saves_the_payload() -> None:
    steps = definition(event_wait(), assign("after", approvedBy=expr("vars.approval.by")))
    interp, effects, finished = run(
        steps, [WaitResolved(value={"amount": 500, "by": "ana"})], payload={"ticketId": "T"}
    )
    assert len(effects) == 1
    assert finished.vars == {"approval": {"amount": 500, "by": "ana"}, "approvedBy": "ana"}
    assert rows(interp.drain_records())[0] == ("root.steps[0]", "approval", "SUCCEEDED", 1)


def test_event_wait_timeout_is_a_timeout_error() -> None:
    interp, _, finished = run(event_wait(timeoutMs=200), [WaitTimedOut()], payload={"ticketId": "T"})
    assert finished.status == "FAILED"
    assert finished.error is not None
    assert (finished.error["category"], finished.error["stepPath"], finished.error["stepId"]) == (
        "TimeoutError",
        "root.steps[0]",
        "approval",
    )
    assert "200 ms" in finished.error["message"]
    assert rows(interp.drain_records()) == [("root.steps[0]", "approval", "FAILED", 1)]


def test_timeout_message_shows_the_computed_timeout() -> None:
    _, _, finished = run(
        event_wait(timeoutMs=expr("payload.timeoutMs")), [WaitTimedOut()], payload={"ticketId": "T", "timeoutMs": 200}
    )
    assert finished.error is not None
    assert finished.error["message"].endswith("after 200 ms")


def test_event_wait_timeout_is_catchable() -> None:
    steps = definition(
        guarded([event_wait(timeoutMs=100)], [assign("fallback", timedOut=expr("error.category = 'TimeoutError'"))])
    )
    _, _, finished = run(steps, [WaitTimedOut()], payload={"ticketId": "T"})
    assert finished.status == "SUCCEEDED"
    assert finished.vars["timedOut"] is True
    assert finished.vars["err"]["stepId"] == "approval"


def test_a_timer_outcome_for_an_event_wait_is_corruption() -> None:
    interp = make(event_wait(), payload={"ticketId": "T"})
    interp.next_effect()
    with pytest.raises(InterpreterCorruption, match="does not fit"):
        interp.resume(TimerFired())


# -- human.task ---------------------------------------------------------------------------------------


def review(**fields: Any) -> dict[str, Any]:
    return {
        "id": "review",
        "type": "human.task",
        "taskType": "refund-review",
        "title": expr("'Review refund for ' & payload.customer"),
        "description": "Approve or reject the refund.",
        "formSchema": {"type": "object", "properties": {"approved": {"type": "boolean"}}},
        "contextData": {"customer": expr("payload.customer"), "n": 1},
        "saveAs": "vars.review",
        **fields,
    }


def test_human_task_effect_resolves_title_and_context() -> None:
    effect = make(review(timeoutMs=60_000), payload={"customer": "ACME"}).next_effect()
    assert effect == HumanTask(
        seq=1,
        path="root.steps[0]",
        task_type="refund-review",
        title="Review refund for ACME",
        description="Approve or reject the refund.",
        form_schema={"type": "object", "properties": {"approved": {"type": "boolean"}}},
        context_data={"customer": "ACME", "n": 1},
        timeout_ms=60_000,
    )


def test_human_task_description_resolving_to_null_is_no_description() -> None:
    effect = make(review(description=expr("payload.note")), payload={"customer": "ACME"}).next_effect()
    assert isinstance(effect, HumanTask)
    assert effect.description is None


def test_human_task_completion_saves_the_response() -> None:
    decide = {
        "id": "decide",
        "type": "control.if",
        "condition": expr("vars.review.approved"),
        "then": [assign("approved", outcome="refunded")],
        "else": [assign("rejected", outcome="rejected")],
    }
    _, effects, finished = run(
        definition(review(), decide), [WaitResolved(value={"approved": True})], payload={"customer": "ACME"}
    )
    assert isinstance(effects[0], HumanTask) and effects[0].timeout_ms is None
    assert finished.vars == {"review": {"approved": True}, "outcome": "refunded"}


def test_human_task_timeout_is_a_catchable_timeout_error() -> None:
    _, _, failed = run(review(timeoutMs=10), [WaitTimedOut()], payload={"customer": "A"})
    assert failed.error is not None and failed.error["category"] == "TimeoutError"
    assert "human task" in failed.error["message"]
    _, _, caught = run(guarded([review(timeoutMs=10)], []), [WaitTimedOut()], payload={"customer": "A"})
    assert caught.status == "SUCCEEDED" and caught.vars["err"]["category"] == "TimeoutError"


# -- control.callWorkflow -----------------------------------------------------------------------------


def call_child(**fields: Any) -> dict[str, Any]:
    return {
        "id": "call-child",
        "type": "control.callWorkflow",
        "workflowId": "child",
        "inputMapping": {"n": expr("payload.n"), "fixed": "x", "sleepMs": expr("payload.sleepMs")},
        **fields,
    }


@pytest.mark.parametrize(("version", "expected"), [(1, 1), ("latest", None), (None, None)])
def test_call_workflow_starts_a_child_with_the_mapped_payload(version: Any, expected: int | None) -> None:
    step = call_child() if version is None else call_child(workflowVersion=version)
    effect = make(step, payload={"n": 21}).next_effect()
    assert effect == StartChild(
        seq=1,
        path="root.steps[0]",
        workflow_id="child",
        workflow_version=expected,
        payload={"n": 21, "fixed": "x", "sleepMs": None},
    )


def test_output_mapping_reads_the_childs_payload_vars_and_output() -> None:
    steps = definition(
        call_child(
            outputMapping={
                "vars.childResult": expr("output.result"),
                "vars.childVars": expr("vars"),
                "vars.sent": expr("payload.n"),
            }
        ),
        assign("after", plusOne=expr("vars.childResult + 1")),
    )
    result = {"payload": {"n": 21}, "vars": {"doubled": 42}, "output": {"result": 42}}
    interp, _, finished = run(steps, [ChildSucceeded(result=result)], payload={"n": 21})
    assert finished.vars == {"childResult": 42, "childVars": {"doubled": 42}, "sent": 21, "plusOne": 43}
    assert rows(interp.drain_records())[0] == ("root.steps[0]", "call-child", "SUCCEEDED", 1)


def test_output_mapping_cannot_see_the_parents_scope() -> None:
    steps = definition(assign("mine", mine=1), call_child(outputMapping={"vars.copy": expr("vars.mine")}))
    _, _, finished = run(steps, [ChildSucceeded(result={"payload": {}, "vars": {}, "output": None})])
    assert finished.vars == {"mine": 1, "copy": None}


def test_output_mapping_error_fails_the_call_step() -> None:
    interp, _, finished = run(
        call_child(outputMapping={"vars.x": expr("$number('x') + 1")}),
        [ChildSucceeded(result={"payload": {}, "vars": {}, "output": None})],
    )
    assert finished.error is not None and finished.error["category"] == "ExpressionError"
    assert rows(interp.drain_records()) == [("root.steps[0]", "call-child", "FAILED", 1)]


def test_child_failure_fails_the_parent_with_the_childs_category() -> None:
    interp, _, finished = run(call_child(), [ChildFailed(category="ActionError", message="child said no")])
    assert finished.error == {
        "category": "ActionError",
        "message": "child said no",
        "stepPath": "root.steps[0]",
        "stepId": "call-child",
    }
    assert rows(interp.drain_records()) == [("root.steps[0]", "call-child", "FAILED", 1)]


def test_child_failure_is_catchable() -> None:
    steps = definition(guarded([call_child()], [assign("fallback", why=expr("error.message"))]))
    interp = make(steps, payload={"n": 1})
    _, finished = drive(interp, [ChildFailed(category="ChildCanceled", message="gone")])
    assert finished.status == "SUCCEEDED"
    assert finished.vars["why"] == "gone" and finished.vars["err"]["category"] == "ChildCanceled"
