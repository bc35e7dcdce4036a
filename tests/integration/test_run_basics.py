"""End-to-end runs on real Postgres + Temporal, asserting the projections, not only the status."""

from engine.services.context import ServiceContext
from engine.services.launch import launch_run
from tests.helpers import publish_examples, wait_for_run


async def test_echo_chain_projects_steps_invocations_and_output(services: ServiceContext) -> None:
    await publish_examples(services, "echo_chain")
    run_id = await launch_run(services, workflow_id="echo-chain", payload={"ticket": {"id": 41}})
    detail = await wait_for_run(services, run_id)
    assert detail.status == "SUCCEEDED", detail.error
    assert detail.vars["greeting"] == {"ticketId": 41, "note": "hello"}
    assert detail.vars["count"] == 42
    assert detail.vars["label"] == "T-42"
    assert detail.output == {"label": "T-42"}
    assert [(s.path, s.step_id, s.status, s.attempt) for s in detail.steps] == [
        ("root.steps[0]", "greet", "SUCCEEDED", 1),
        ("root.steps[1]", "count", "SUCCEEDED", 1),
        ("root.steps[2]", "log", "SUCCEEDED", 1),
        ("root.steps[3]", "done", "SUCCEEDED", 1),
    ]
    assert detail.step_count == 4
    assert [(i.action, i.status, i.attempt) for i in detail.invocations] == [
        ("core.echo", "SUCCEEDED", 1),
        ("core.log", "SUCCEEDED", 1),
    ]
    assert detail.completed_at is not None
    assert detail.engine == "temporal"
