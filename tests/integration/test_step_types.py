"""Every step type end to end, asserting step rows, attempts, waits, invocations, vars and errors."""

import asyncio
import uuid
from typing import Any

from engine.services.context import ServiceContext
from engine.services.launch import launch_run
from engine.services.runs import RunDetail, get_run_detail
from engine.temporal import TASK_QUEUE, WORKFLOW_NAME, workflow_id_for_run
from engine.temporal.contracts import EventSignal, RunInput, TaskCompletion
from tests.helpers import publish_examples, wait_for_run, wait_until


def rows(detail: RunDetail) -> list[tuple[str, str, str, int]]:
    return [(s.path, s.step_id, s.status, s.attempt) for s in detail.steps]


async def test_if_takes_the_matching_branch(services: ServiceContext) -> None:
    await publish_examples(services, "branching")
    high = await launch_run(services, workflow_id="branching", payload={"priority": "high"})
    low = await launch_run(services, workflow_id="branching", payload={"priority": "low"})
    high_detail = await wait_for_run(services, high)
    low_detail = await wait_for_run(services, low)
    assert high_detail.vars["route"] == "pager"
    assert rows(high_detail) == [
        ("root.steps[0]", "route", "SUCCEEDED", 1),
        ("root.steps[0].then[0]", "page", "SUCCEEDED", 1),
        ("root.steps[1]", "record", "SUCCEEDED", 1),
    ]
    assert low_detail.vars["recorded"] == {"route": "queue"}
    assert ("root.steps[0].else[0]", "queue", "SUCCEEDED", 1) in rows(low_detail)


async def test_for_each_runs_the_body_per_item_with_loop_locals(services: ServiceContext) -> None:
    await publish_examples(services, "foreach")
    items = [{"name": "a", "price": 1.5}, {"name": "b", "price": 2}, {"name": "c", "price": 3}]
    detail = await wait_for_run(services, await launch_run(services, workflow_id="foreach", payload={"items": items}))
    assert detail.status == "SUCCEEDED", detail.error
    assert detail.vars["total"] == 6.5
    assert detail.vars["seen"] == ["a", "b", "c"]
    assert detail.vars["last"] == {"name": "c", "position": 2}
    body = [(s.path, s.iteration) for s in detail.steps if s.path.startswith("root.steps[1].body")]
    assert body == [
        ("root.steps[1].body[0]", "0"),
        ("root.steps[1].body[1]", "0"),
        ("root.steps[1].body[0]", "1"),
        ("root.steps[1].body[1]", "1"),
        ("root.steps[1].body[0]", "2"),
        ("root.steps[1].body[1]", "2"),
    ]
    loop = next(s for s in detail.steps if s.path == "root.steps[1]")
    assert loop.status == "SUCCEEDED" and loop.completed_at is not None
    assert len(detail.invocations) == 3


async def test_try_catch_captures_the_error_and_continues(services: ServiceContext) -> None:
    await publish_examples(services, "try_catch")
    detail = await wait_for_run(services, await launch_run(services, workflow_id="try-catch", payload={}))
    assert detail.status == "SUCCEEDED", detail.error
    assert detail.vars["err"] == {
        "category": "ActionError",
        "message": "upstream said no",
        "stepPath": "root.steps[0].try[0]",
        "stepId": "explode",
    }
    assert detail.vars["recovered"] is True
    assert detail.vars["reason"] == "upstream said no"
    assert "unreached" not in detail.vars
    assert detail.vars["after"] is True
    assert rows(detail) == [
        ("root.steps[0]", "guard", "SUCCEEDED", 1),
        ("root.steps[0].try[0]", "explode", "FAILED", 1),
        ("root.steps[0].catch[0]", "recover", "SUCCEEDED", 1),
        ("root.steps[1]", "after", "SUCCEEDED", 1),
    ]
    failed = detail.steps[1]
    assert failed.error is not None and failed.error["category"] == "ActionError"
    assert [(i.action, i.status) for i in detail.invocations] == [("core.fail", "FAILED")]


async def test_retries_follow_policy_and_validation_errors_are_not_retried(services: ServiceContext) -> None:
    await publish_examples(services, "retry")
    detail = await wait_for_run(services, await launch_run(services, workflow_id="retry", payload={}))
    assert detail.status == "SUCCEEDED", detail.error
    assert rows(detail) == [
        ("root.steps[0]", "flaky", "FAILED", 1),
        ("root.steps[0]", "flaky", "FAILED", 2),
        ("root.steps[0]", "flaky", "FAILED", 3),
        ("root.steps[1]", "invalid", "FAILED", 1),
        ("root.steps[2]", "after", "SUCCEEDED", 1),
    ]
    assert detail.vars["flaky"]["error"]["category"] == "NetworkError"
    assert detail.vars["errors"]["invalid"]["category"] == "ValidationError"
    # One ledger row per idempotency key; its attempt counts the executions.
    assert [(i.action, i.attempt, i.status) for i in detail.invocations] == [
        ("core.fail", 3, "FAILED"),
        ("core.fail", 1, "FAILED"),
    ]


async def test_unhandled_failure_fails_the_run_with_the_error(services: ServiceContext) -> None:
    definition: dict[str, Any] = {
        "id": "fails",
        "version": 1,
        "name": "Fails",
        "steps": [
            {
                "id": "boom",
                "type": "action.call",
                "action": "core.fail",
                "version": 1,
                "input": {"category": "ActionError", "message": "no way"},
            },
            {"id": "never", "type": "state.assign", "assign": {"vars.never": True}},
        ],
    }
    from engine.services.publish import publish_definition

    await publish_definition(services, definition)
    detail = await wait_for_run(services, await launch_run(services, workflow_id="fails", payload={}))
    assert detail.status == "FAILED"
    assert detail.error == {
        "category": "ActionError",
        "message": "no way",
        "stepPath": "root.steps[0]",
        "stepId": "boom",
    }
    assert rows(detail) == [("root.steps[0]", "boom", "FAILED", 1)]
    assert detail.completed_at is not None


async def test_expression_error_is_a_catchable_failure_naming_the_step(services: ServiceContext) -> None:
    from engine.services.publish import publish_definition

    await publish_definition(
        services,
        {
            "id": "bad-expr",
            "version": 1,
            "name": "Bad expression",
            "steps": [{"id": "calc", "type": "state.assign", "assign": {"vars.x": {"$expr": "$number('abc') + 1"}}}],
        },
    )
    detail = await wait_for_run(services, await launch_run(services, workflow_id="bad-expr", payload={}))
    assert detail.status == "FAILED"
    assert detail.error is not None
    assert detail.error["category"] == "ExpressionError"
    assert detail.error["stepPath"] == "root.steps[0]"
    assert "$number('abc') + 1" in detail.error["message"]


async def test_time_wait_projects_a_time_wait_and_due_waits_do_not_sleep(services: ServiceContext) -> None:
    await publish_examples(services, "timer")
    run_id = await launch_run(services, workflow_id="timer", payload={"waitMs": 400})
    waiting = await wait_for_run(services, run_id, frozenset({"WAITING"}))
    assert [(w.wait_type, w.status) for w in waiting.waits] == [("time", "WAITING")]
    done = await wait_for_run(services, run_id)
    assert done.status == "SUCCEEDED"
    assert done.vars == {"woke": True, "after": True}
    assert [(w.wait_type, w.status) for w in done.waits] == [("time", "RESOLVED")]
    nap, due = done.steps[0], done.steps[1]
    assert nap.duration_ms is not None and nap.duration_ms >= 400
    assert due.step_id == "already-due" and due.status == "SUCCEEDED" and (due.duration_ms or 0) < 100


async def test_event_wait_resumes_only_on_a_matching_signal(services: ServiceContext) -> None:
    await publish_examples(services, "event_wait")
    run_id = await launch_run(services, workflow_id="event-wait", payload={"ticketId": "T-1", "minAmount": 100})
    waiting = await wait_for_run(services, run_id, frozenset({"WAITING"}))
    assert [(w.wait_type, w.event_name, w.key, w.status) for w in waiting.waits] == [
        ("event", "ticket.approved", "T-1", "WAITING")
    ]
    handle = (await services.temporal()).get_workflow_handle(workflow_id_for_run(run_id))
    for signal in (
        EventSignal(event_id="e1", event_name="ticket.approved", correlation_key="T-2", payload={"amount": 500}),
        EventSignal(event_id="e2", event_name="ticket.approved", correlation_key="T-1", payload={"amount": 50}),
        EventSignal(event_id="e3", event_name="ticket.closed", correlation_key="T-1", payload={"amount": 500}),
    ):
        await handle.signal("event", signal)
    await asyncio.sleep(0.3)
    assert (await get_run_detail(services, run_id)).status == "WAITING"
    await handle.signal(
        "event",
        EventSignal(
            event_id="e4", event_name="ticket.approved", correlation_key="T-1", payload={"amount": 500, "by": "ana"}
        ),
    )
    done = await wait_for_run(services, run_id)
    assert done.status == "SUCCEEDED"
    assert done.vars == {"approval": {"amount": 500, "by": "ana"}, "approvedBy": "ana"}
    assert [(w.status, w.payload) for w in done.waits] == [("RESOLVED", {"amount": 500, "by": "ana"})]


async def test_event_wait_timeout_is_a_timeout_error(services: ServiceContext) -> None:
    await publish_examples(services, "event_wait")
    run_id = await launch_run(services, workflow_id="event-wait", payload={"ticketId": "T-9", "timeoutMs": 200})
    done = await wait_for_run(services, run_id)
    assert done.status == "FAILED"
    assert done.error is not None and done.error["category"] == "TimeoutError"
    assert [w.status for w in done.waits] == ["TIMED_OUT"]
    assert rows(done) == [("root.steps[0]", "approval", "FAILED", 1)]


async def test_human_task_is_created_and_completed_by_signal(services: ServiceContext) -> None:
    await publish_examples(services, "human_task")
    run_id = await launch_run(services, workflow_id="human-task", payload={"customer": "ACME"})
    await wait_for_run(services, run_id, frozenset({"WAITING"}))
    task = await wait_until(
        lambda: services.pool.fetchrow(
            "SELECT task_id::text, title, status, context_data FROM workflow_tasks WHERE tenant = $1 AND run_id = $2",
            services.tenant,
            run_id,
        ),
        what="the task row",
    )
    assert task["title"] == "Review refund for ACME"
    assert task["status"] == "OPEN"
    assert task["context_data"] == {"customer": "ACME"}
    handle = (await services.temporal()).get_workflow_handle(workflow_id_for_run(run_id))
    await handle.signal(
        "complete_task", TaskCompletion(task_id=task["task_id"], response={"approved": True}, completed_by="ana")
    )
    done = await wait_for_run(services, run_id)
    assert done.status == "SUCCEEDED"
    assert done.vars == {"review": {"approved": True}, "outcome": "refunded"}
    row = await services.pool.fetchrow(
        "SELECT status, completed_by, response FROM workflow_tasks WHERE tenant = $1 AND task_id = $2",
        services.tenant,
        task["task_id"],
    )
    assert dict(row) == {"status": "COMPLETED", "completed_by": "ana", "response": {"approved": True}}
    assert [(w.wait_type, w.status) for w in done.waits] == [("human", "RESOLVED")]


async def test_call_workflow_runs_a_child_with_its_own_linked_run(services: ServiceContext) -> None:
    await publish_examples(services, "child", "parent")
    run_id = await launch_run(services, workflow_id="parent", payload={"n": 21})
    done = await wait_for_run(services, run_id)
    assert done.status == "SUCCEEDED", done.error
    assert done.vars["childResult"] == 42
    assert done.vars["plusOne"] == 43
    assert done.vars["childVars"] == {"doubled": 42}
    assert len(done.child_run_ids) == 1
    child = await get_run_detail(services, done.child_run_ids[0])
    assert child.status == "SUCCEEDED"
    assert child.trigger == "child"
    assert child.parent_run_id == run_id
    assert child.root_run_id == run_id
    assert child.input == {"n": 21, "sleepMs": None}
    assert child.output == {"result": 42}


async def test_continue_as_new_over_300_steps_keeps_vars(services: ServiceContext) -> None:
    from engine.services.publish import publish_definition

    await publish_definition(
        services,
        {
            "id": "long",
            "version": 1,
            "name": "Long loop",
            "steps": [
                {"id": "init", "type": "state.assign", "assign": {"vars.sum": 0}},
                {
                    "id": "loop",
                    "type": "control.forEach",
                    "items": {"$expr": "[1..160]"},
                    "body": [
                        {"id": "add", "type": "state.assign", "assign": {"vars.sum": {"$expr": "vars.sum + item"}}},
                        {
                            "id": "touch",
                            "type": "action.call",
                            "action": "core.echo",
                            "version": 1,
                            "input": {"n": {"$expr": "item"}},
                            "saveAs": "vars.last",
                        },
                    ],
                },
            ],
        },
    )
    run_id = await launch_run(services, workflow_id="long", payload={})
    done = await wait_for_run(services, run_id, timeout=60)
    assert done.status == "SUCCEEDED", done.error
    assert done.vars == {"sum": sum(range(1, 161)), "last": {"n": 160}}
    assert done.step_count == 2 + 160 * 2
    assert len(done.steps) == 2 + 160 * 2
    handle = (await services.temporal()).get_workflow_handle(workflow_id_for_run(run_id))
    history = await handle.fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    assert started.continued_execution_run_id, "the run should have continued as new"
    current = await services.pool.fetchval(
        "SELECT temporal_run_id FROM workflow_runs WHERE tenant = $1 AND run_id = $2", services.tenant, run_id
    )
    assert current == (await handle.describe()).run_id


async def test_a_run_whose_pinned_definition_was_altered_fails_with_the_reason(services: ServiceContext) -> None:
    await publish_examples(services, "branching")
    run_id = str(uuid.uuid4())
    version = await services.pool.fetchrow(
        "SELECT version FROM workflow_definition_versions WHERE tenant = $1 AND workflow_id = 'branching'",
        services.tenant,
    )
    await services.pool.execute(
        """INSERT INTO workflow_runs (tenant, run_id, workflow_id, workflow_version, status, trigger, definition_hash)
           VALUES ($1, $2, 'branching', $3, 'RUNNING', 'manual', $4)""",
        services.tenant,
        run_id,
        version["version"],
        "f" * 64,
    )
    client = await services.temporal()
    await client.start_workflow(
        WORKFLOW_NAME,
        RunInput(tenant=services.tenant, run_id=run_id),
        id=workflow_id_for_run(run_id),
        task_queue=TASK_QUEUE,
    )
    done = await wait_for_run(services, run_id)
    assert done.status == "FAILED"
    assert done.error is not None
    assert done.error["category"] == "DefinitionMismatch"
    assert "f" * 64 in done.error["message"]
    assert done.steps == []


async def test_queries_expose_current_step_wait_and_summary(services: ServiceContext) -> None:
    await publish_examples(services, "event_wait")
    run_id = await launch_run(services, workflow_id="event-wait", payload={"ticketId": "T-Q"})
    await wait_for_run(services, run_id, frozenset({"WAITING"}))
    handle = (await services.temporal()).get_workflow_handle(workflow_id_for_run(run_id))
    assert await handle.query("current_step") == "root.steps[0]"
    wait = await handle.query("current_wait")
    assert (wait["wait_type"], wait["event_name"], wait["correlation_key"]) == ("event", "ticket.approved", "T-Q")
    summary = await handle.query("summary")
    assert summary["current_step"] == "root.steps[0]"
    assert summary["step_rows"] == 1
    assert summary["finished"] is None


async def test_a_redelivered_event_does_not_satisfy_a_later_wait(services: ServiceContext) -> None:
    from engine.services.publish import publish_definition

    await publish_definition(
        services,
        {
            "id": "two-approvals",
            "version": 1,
            "name": "Two approvals",
            "steps": [
                {
                    "id": "first",
                    "type": "event.wait",
                    "eventName": "approved",
                    "correlationKey": "K",
                    "saveAs": "vars.first",
                },
                {
                    "id": "second",
                    "type": "event.wait",
                    "eventName": "approved",
                    "correlationKey": "K",
                    "saveAs": "vars.second",
                },
            ],
        },
    )
    run_id = await launch_run(services, workflow_id="two-approvals", payload={})
    handle = (await services.temporal()).get_workflow_handle(workflow_id_for_run(run_id))

    async def waiting_on(step: str) -> bool:
        detail = await get_run_detail(services, run_id)
        return any(w.step_path == step and w.status == "WAITING" for w in detail.waits)

    await wait_until(lambda: waiting_on("root.steps[0]"), what="the first wait")
    first = EventSignal(event_id="e1", event_name="approved", correlation_key="K", payload={"n": 1})
    await handle.signal("event", first)
    await wait_until(lambda: waiting_on("root.steps[1]"), what="the second wait")
    await handle.signal("event", first)  # the same event, delivered again
    await asyncio.sleep(0.3)
    assert await handle.query("current_step") == "root.steps[1]"
    await handle.signal(
        "event", EventSignal(event_id="e2", event_name="approved", correlation_key="K", payload={"n": 2})
    )
    done = await wait_for_run(services, run_id)
    assert done.vars == {"first": {"n": 1}, "second": {"n": 2}}
