"""A definition that calls itself stops at MAX_CHILD_DEPTH with a catchable ChildDepthExceeded."""

from typing import Any

from engine.services.context import ServiceContext
from engine.services.launch import launch_run
from engine.services.publish import publish_definition
from engine.services.runs import get_run_detail
from engine.temporal import MAX_CHILD_DEPTH
from tests.helpers import wait_for_run

CALL_SELF: dict[str, Any] = {
    "id": "again",
    "type": "control.callWorkflow",
    "workflowId": "recurse",
    "workflowVersion": "latest",
    "inputMapping": {},
}


async def runs_by_depth(services: ServiceContext, root_run_id: str) -> list[dict[str, Any]]:
    """The tenant's run rows from the root down, following parent_run_id (one child per run)."""
    rows = await services.pool.fetch(
        "SELECT run_id::text AS run_id, parent_run_id::text AS parent, root_run_id::text AS root, status, error_json"
        " FROM workflow_runs WHERE tenant = $1",
        services.tenant,
    )
    by_parent = {r["parent"]: dict(r) for r in rows}
    chain = [next(dict(r) for r in rows if r["run_id"] == root_run_id)]
    while chain[-1]["run_id"] in by_parent:
        chain.append(by_parent[chain[-1]["run_id"]])
    assert len(chain) == len(rows), "every run row is on the one chain"
    assert {r["root"] for r in chain} == {root_run_id}
    return chain


async def test_a_self_calling_definition_fails_with_child_depth_exceeded_after_the_limit(
    services: ServiceContext,
) -> None:
    await publish_definition(services, {"id": "recurse", "version": 1, "name": "recurse", "steps": [CALL_SELF]})

    run_id = await launch_run(services, workflow_id="recurse", payload={})
    detail = await wait_for_run(services, run_id, timeout=60)

    assert MAX_CHILD_DEPTH == 16
    assert detail.status == "FAILED"
    assert detail.error is not None
    assert detail.error["category"] == "ChildDepthExceeded"
    chain = await runs_by_depth(services, run_id)
    assert len(chain) == 1 + MAX_CHILD_DEPTH  # the root and exactly 16 nested children
    assert all(r["status"] == "FAILED" for r in chain)
    assert all(r["error_json"]["category"] == "ChildDepthExceeded" for r in chain)
    deepest = await get_run_detail(services, chain[-1]["run_id"])
    assert deepest.child_run_ids == []
    assert deepest.error is not None
    assert "limit is 16" in deepest.error["message"]
    assert [(s.step_id, s.status) for s in deepest.steps] == [("again", "FAILED")]


async def test_try_catch_catches_child_depth_exceeded(services: ServiceContext) -> None:
    guarded_call = {
        "id": "guard",
        "type": "control.tryCatch",
        "captureErrorAs": "err",
        "try": [CALL_SELF],
        "catch": [{"id": "caught", "type": "state.assign", "assign": {"vars.caught": {"$expr": "vars.err.category"}}}],
    }
    await publish_definition(services, {"id": "recurse", "version": 1, "name": "recurse", "steps": [guarded_call]})

    run_id = await launch_run(services, workflow_id="recurse", payload={})
    detail = await wait_for_run(services, run_id, timeout=60)

    assert detail.status == "SUCCEEDED", detail.error
    chain = await runs_by_depth(services, run_id)
    assert len(chain) == 1 + MAX_CHILD_DEPTH
    assert all(r["status"] == "SUCCEEDED" for r in chain)
    deepest = await get_run_detail(services, chain[-1]["run_id"])
    assert deepest.vars["caught"] == "ChildDepthExceeded"
    assert deepest.vars["err"]["stepPath"] == "root.steps[0].try[0]"
    # Only the deepest run met the limit; every other run's child succeeded, so nothing was caught there.
    assert detail.vars == {}
