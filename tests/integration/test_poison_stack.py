"""A stack holding every kind of poison run shows none stuck: doctor's check and the studio's diagnosis agree.

Before issue 9 each of these runs sat RUNNING with no step (a projection or load retried forever) and,
a minute later, was reported stuck with "workers may be saturated". Now each ends FAILED with its reason
or waits as its definition says, so neither ``runstudio doctor`` nor the studio has anything to report.
"""

from dataclasses import replace
from datetime import timedelta
from typing import Any

from engine.services.context import ServiceContext
from engine.services.doctor import run_checks
from engine.services.health import diagnose
from engine.services.launch import launch_run
from engine.services.publish import publish_definition
from engine.services.runs import STUCK_AFTER
from engine.store import runs
from tests.helpers import TERMINAL, wait_for_run

POISONS: dict[str, list[dict[str, Any]]] = {
    "poison-nul": [
        {"id": "nul", "type": "state.assign", "assign": {"vars.bad": {"$expr": '$base64decode("AA==")'}}},
    ],
    "poison-deep-state": [
        {
            "id": "deep",
            "type": "state.assign",
            "assign": {"vars.deep": {"$expr": "$reduce([1..240], function($acc, $i) { {'a': $acc} }, {})"}},
        },
    ],
    "poison-nul-action": [
        {
            "id": "echo",
            "type": "action.call",
            "action": "core.echo",
            "version": 1,
            "input": {"text": {"$expr": '$base64decode("AA==")'}},
        },
    ],
    "poison-bare-task": [
        {"id": "ask", "type": "human.task", "taskType": "approve", "title": "Approve?", "formSchema": {}},
    ],
    "poison-self": [
        {"id": "again", "type": "control.callWorkflow", "workflowId": "poison-self"},
    ],
}


async def test_a_stack_with_poison_runs_shows_none_stuck(services: ServiceContext) -> None:
    for workflow_id, steps in POISONS.items():
        await publish_definition(services, {"id": workflow_id, "version": 1, "name": workflow_id, "steps": steps})
    run_ids = {workflow_id: await launch_run(services, workflow_id=workflow_id, payload={}) for workflow_id in POISONS}

    settled = {
        workflow_id: await wait_for_run(services, run_id, TERMINAL | {"WAITING"}, timeout=40)
        for workflow_id, run_id in run_ids.items()
    }

    assert {w: d.status for w, d in settled.items()} == {
        "poison-nul": "FAILED",
        "poison-deep-state": "FAILED",
        "poison-nul-action": "FAILED",
        "poison-bare-task": "WAITING",
        "poison-self": "FAILED",
    }
    assert {w: (d.error or {}).get("category") for w, d in settled.items() if d.status == "FAILED"} == {
        "poison-nul": "ProjectionError",
        "poison-deep-state": "ProjectionError",
        "poison-nul-action": "LedgerError",
        "poison-self": "ChildDepthExceeded",
    }
    # Looked at from well past the stuck threshold, nothing of this tenant is stuck: not by the query
    # doctor and the runs list use, not by the run screen's diagnosis.
    later = settled["poison-self"].started_at + STUCK_AFTER + timedelta(minutes=5)
    async with services.pool.acquire() as conn:
        assert await runs.count_stuck(conn, tenant=services.tenant, started_before=later - STUCK_AFTER) == 0
    checks = {c.name: c for c in await run_checks(services.endpoints, tenant=services.tenant, now=lambda: later)}
    assert checks["stuck runs"].ok, checks["stuck runs"].detail
    future = replace(services, clock=lambda: later)
    for run_id in run_ids.values():
        assert await diagnose(future, run_id) is None
