"""Human tasks on real Postgres + Temporal: listing, validated completion, audit, refusals, the CLI."""

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from engine.redaction import PLACEHOLDER
from engine.services.audit import Actor
from engine.services.context import ServiceContext
from engine.services.launch import launch_run
from engine.services.publish import publish_definition
from engine.services.runs import get_run_detail
from engine.services.tasks import (
    TaskNotFound,
    TaskNotOpen,
    TaskResponseInvalid,
    complete_task,
    get_task,
    list_open_tasks,
)
from tests.helpers import wait_for_run
from tests.integration.test_ingress import cli_script, run_cli, signal_count

FORM = {
    "type": "object",
    "required": ["approved", "amount"],
    "additionalProperties": False,
    "properties": {
        "approved": {"type": "boolean"},
        "amount": {"type": "number", "minimum": 0},
        "comment": {"type": "string"},
    },
}

REFUND = {
    "id": "refund-review",
    "version": 1,
    "name": "Review a refund",
    "redact": ["card"],
    "payloadSchema": {
        "type": "object",
        "required": ["customer", "card"],
        "properties": {"customer": {"type": "string"}, "card": {"type": "string"}},
    },
    "steps": [
        {
            "id": "review",
            "type": "human.task",
            "taskType": "refund-review",
            "title": {"$expr": "'Refund for ' & payload.customer"},
            "description": "Approve or reject.",
            "formSchema": FORM,
            "contextData": {"customer": {"$expr": "payload.customer"}, "card": {"$expr": "payload.card"}},
            "saveAs": "vars.review",
        },
        {"id": "after", "type": "state.assign", "assign": {"vars.done": True}},
    ],
}

ANA = Actor(user="ana", source="test")


async def open_task(services: ServiceContext, customer: str) -> tuple[str, str]:
    """Start a refund review for ``customer``; return (run id, task id) once its task is projected."""
    run_id = await launch_run(
        services, workflow_id="refund-review", payload={"customer": customer, "card": f"4111-{customer}-secret"}
    )
    await wait_for_run(services, run_id, frozenset({"WAITING"}))
    task_id = await services.pool.fetchval(
        "SELECT task_id::text FROM workflow_tasks WHERE tenant = $1 AND run_id = $2", services.tenant, run_id
    )
    assert task_id is not None, "WAITING is projected together with the task"
    return run_id, task_id


async def audit_rows(services: ServiceContext, run_id: str) -> list[dict[str, Any]]:
    rows = await services.pool.fetch(
        "SELECT action, actor, source, details FROM workflow_run_audit WHERE tenant = $1 AND run_id = $2",
        services.tenant,
        run_id,
    )
    return [dict(r) for r in rows]


async def test_open_tasks_are_listed_newest_first_and_redacted(services: ServiceContext) -> None:
    await publish_definition(services, REFUND)
    older_run, older = await open_task(services, "ACME")
    newer_run, newer = await open_task(services, "Globex")

    listed = await list_open_tasks(services)
    assert [(t.task_id, t.run_id) for t in listed] == [(newer, newer_run), (older, older_run)]
    first = listed[0]
    assert (first.task_type, first.title, first.status) == ("refund-review", "Refund for Globex", "OPEN")
    assert first.description == "Approve or reject."
    assert first.form_schema == FORM
    assert first.context_data == {"customer": "Globex", "card": PLACEHOLDER}
    assert first.workflow_id == "refund-review" and first.step_path == "root.steps[0]"
    assert await get_task(services, older) == listed[1]
    # Another tenant sees none of them.
    assert await list_open_tasks(services.for_tenant(f"other-{uuid.uuid4().hex[:8]}")) == []

    for run_id, task_id in ((older_run, older), (newer_run, newer)):
        await complete_task(services, task_id, {"approved": False, "amount": 0}, actor=ANA)
        await wait_for_run(services, run_id)
    assert await list_open_tasks(services) == []


async def test_an_invalid_response_is_refused_with_every_path_and_the_run_is_untouched(
    services: ServiceContext,
) -> None:
    await publish_definition(services, REFUND)
    run_id, task_id = await open_task(services, "ACME")

    with pytest.raises(TaskResponseInvalid) as refused:
        await complete_task(services, task_id, {"approved": "yes", "amount": -5, "extra": 1}, actor=ANA)
    problems = refused.value.problems
    assert any(p.startswith("$.approved: ") and "boolean" in p for p in problems)
    assert any(p.startswith("$.amount: ") and "minimum" in p for p in problems)
    assert any(p.startswith("$: ") and "extra" in p for p in problems)
    with pytest.raises(TaskResponseInvalid, match=r'\$: "amount" is a required property'):
        await complete_task(services, task_id, {"approved": True}, actor=ANA)

    detail = await get_run_detail(services, run_id)
    assert detail.status == "WAITING"
    assert [(w.wait_type, w.status) for w in detail.waits] == [("human", "WAITING")]
    assert (await get_task(services, task_id)).status == "OPEN"
    assert await audit_rows(services, run_id) == []
    assert await signal_count(services, run_id) == 0

    await complete_task(services, task_id, {"approved": True, "amount": 1}, actor=ANA)
    await wait_for_run(services, run_id)


async def test_a_valid_response_resumes_the_run_once_and_a_second_completion_is_refused(
    services: ServiceContext,
) -> None:
    await publish_definition(services, REFUND)
    run_id, task_id = await open_task(services, "ACME")
    response = {"approved": True, "amount": 12.5, "comment": "ok"}

    completed = await complete_task(services, task_id, response, actor=ANA)
    assert completed.status == "COMPLETED" and completed.completed_by == "ana"
    assert completed.response == response and completed.completed_at is not None

    done = await wait_for_run(services, run_id)
    assert done.status == "SUCCEEDED"
    assert done.vars == {"review": response, "done": True}
    assert [(w.wait_type, w.status, w.payload) for w in done.waits] == [("human", "RESOLVED", response)]
    row = await services.pool.fetchrow(
        "SELECT status, completed_by, response FROM workflow_tasks WHERE tenant = $1 AND task_id = $2",
        services.tenant,
        task_id,
    )
    assert dict(row) == {"status": "COMPLETED", "completed_by": "ana", "response": response}
    assert await audit_rows(services, run_id) == [
        {
            "action": "task.complete",
            "actor": "ana",
            "source": "test",
            "details": {"task_id": task_id, "task_type": "refund-review"},
        }
    ]

    with pytest.raises(TaskNotOpen, match="COMPLETED by ana"):
        await complete_task(services, task_id, response, actor=Actor(user="bo", source="test"))
    assert await signal_count(services, run_id) == 1
    assert len(await audit_rows(services, run_id)) == 1


async def test_concurrent_completions_of_one_task_signal_it_once(services: ServiceContext) -> None:
    await publish_definition(services, REFUND)
    run_id, task_id = await open_task(services, "ACME")
    results = await asyncio.gather(
        *(
            complete_task(services, task_id, {"approved": True, "amount": n}, actor=Actor(user=f"op{n}", source="t"))
            for n in range(3)
        ),
        return_exceptions=True,
    )
    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1, results
    assert all(isinstance(r, TaskNotOpen) for r in results if r not in winners)
    await wait_for_run(services, run_id)
    assert await signal_count(services, run_id) == 1


async def test_unknown_tasks_are_refused(services: ServiceContext) -> None:
    with pytest.raises(TaskNotFound, match="runstudio tasks"):
        await complete_task(services, str(uuid.uuid4()), {}, actor=ANA)
    with pytest.raises(TaskNotFound, match="not a task id"):
        await get_task(services, "nope")


async def test_cli_tasks_and_task_complete(services: ServiceContext, tmp_path: Path) -> None:
    await publish_definition(services, REFUND)
    run_id, task_id = await open_task(services, "ACME")
    script = cli_script(tmp_path)

    listed = await asyncio.to_thread(run_cli, script, services, "tasks", "--json")
    assert listed.returncode == 0, listed.stderr
    items = json.loads(listed.stdout)
    assert [{k: i[k] for k in ("task_id", "run_id", "task_type", "title", "status")} for i in items] == [
        {
            "task_id": task_id,
            "run_id": run_id,
            "task_type": "refund-review",
            "title": "Refund for ACME",
            "status": "OPEN",
        }
    ]
    assert "secret" not in listed.stdout
    table = await asyncio.to_thread(run_cli, script, services, "tasks")
    assert task_id in table.stdout and "Refund for ACME" in table.stdout

    bad = await asyncio.to_thread(
        run_cli, script, services, "task", "complete", task_id, "--response", '{"approved": "no"}'
    )
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert "$.approved" in bad.stderr and '"amount" is a required property' in bad.stderr
    assert (await get_task(services, task_id)).status == "OPEN"

    answer = tmp_path / "answer.json"
    answer.write_text(json.dumps({"approved": True, "amount": 3}))
    good = await asyncio.to_thread(run_cli, script, services, "task", "complete", task_id, "--response", f"@{answer}")
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["status"] == "COMPLETED"
    assert (await wait_for_run(services, run_id)).vars["review"] == {"approved": True, "amount": 3}

    again = await asyncio.to_thread(run_cli, script, services, "task", "complete", task_id, "--response", "{}")
    assert again.returncode == 1 and "only OPEN tasks" in again.stderr
    empty = await asyncio.to_thread(run_cli, script, services, "tasks")
    assert empty.returncode == 0 and "No open tasks." in empty.stdout
