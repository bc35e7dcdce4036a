"""Issue 13's small truths on the service side: where exports go, form errors in JSON, and the demo data."""

import json
from pathlib import Path

import pytest

from engine.services.audit import Actor
from engine.services.context import ServiceContext
from engine.services.demo import CANCELED_RUN, DEMO_FILE, EXAMPLES_DIR, FAILING_RUN, REPLAYED_RUN, load_demo
from engine.services.export import export_run
from engine.services.launch import launch_run
from engine.services.runs import get_run_detail
from engine.services.tasks import TaskResponseInvalid, complete_task, list_open_tasks, response_problems
from engine.store import audit
from tests.helpers import publish_examples, wait_for_run, wait_until

ACTOR = Actor(user="ops", source="local")
DEMO_SPEC = json.loads((EXAMPLES_DIR / DEMO_FILE).read_text(encoding="utf-8"))


async def test_an_export_without_a_path_goes_to_the_home_exports_folder(
    services: ServiceContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("RUNSTUDIO_HOME", str(home))
    workdir = tmp_path / "checkout"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    await publish_examples(services, "echo_chain")
    run_id = await launch_run(services, workflow_id="echo-chain", payload={"ticket": {"id": 7}})
    await wait_for_run(services, run_id)
    written = await export_run(services, run_id, actor=ACTOR)
    assert written.is_absolute()
    assert written.parent == (home / "exports").resolve()
    assert written.name.startswith(f"run-{run_id}-") and written.suffix == ".json"
    assert json.loads(written.read_text())["run"]["run_id"] == run_id
    assert list(workdir.iterdir()) == [], "nothing may be written into the current directory"
    trail = await audit.for_run(services.pool, tenant=services.tenant, run_id=run_id)
    assert [entry.details["path"] for entry in trail if entry.action == "export"] == [str(written)]


async def test_an_output_dir_takes_the_export_and_a_path_still_wins(services: ServiceContext, tmp_path: Path) -> None:
    await publish_examples(services, "echo_chain")
    run_id = await launch_run(services, workflow_id="echo-chain", payload={"ticket": {"id": 8}})
    await wait_for_run(services, run_id)
    into_dir = await export_run(services, run_id, actor=ACTOR, output_dir=tmp_path / "out")
    assert into_dir.parent == (tmp_path / "out").resolve()
    exact = await export_run(services, run_id, actor=ACTOR, path=tmp_path / "exact.json", output_dir=tmp_path / "x")
    assert exact == (tmp_path / "exact.json").resolve()
    assert not (tmp_path / "x").exists()


def test_form_errors_quote_values_as_json() -> None:
    schema = {
        "type": "object",
        "required": ["approved", "note"],
        "additionalProperties": False,
        "properties": {
            "approved": {"type": "boolean"},
            "note": {"type": "string"},
            "level": {"enum": ["low", None, True]},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
    }
    problems = response_problems(schema, {"approved": None, "level": "True story", "tags": [False], "x": 1})
    assert problems == [
        '$: "note" is a required property',
        '$: Additional properties are not allowed ("x" was unexpected)',
        '$.approved: null is not of type "boolean"',
        '$.level: "True story" is not one of ["low", null, true]',
        '$.tags[0]: false is not of type "string"',
    ]
    assert response_problems(schema, None) == ['$: null is not of type "object"']


async def test_a_refused_task_response_names_json_values(services: ServiceContext) -> None:
    await publish_examples(services, "human_task")
    run_id = await launch_run(services, workflow_id="human-task", payload={"customer": "ACME"})

    async def open_task() -> str | None:
        tasks = [t for t in await list_open_tasks(services) if t.run_id == run_id]
        return tasks[0].task_id if tasks else None

    task_id = await wait_until(open_task, what="the human task")
    with pytest.raises(TaskResponseInvalid) as refused:
        await complete_task(services, task_id, {"approved": None}, actor=ACTOR)
    assert any("null is not of type" in p for p in refused.value.problems), refused.value.problems
    assert not any("None" in p for p in refused.value.problems)


async def test_the_demo_shows_a_failed_a_canceled_and_a_replayed_run(services: ServiceContext) -> None:
    run_ids = await load_demo(services)
    assert len(run_ids) == len(DEMO_SPEC["runs"]) + 4
    failed_id, canceled_id, original_id, replay_id = run_ids[-4:]
    failed = await wait_for_run(services, failed_id)
    assert (failed.workflow_id, failed.status) == (FAILING_RUN["workflowId"], "FAILED")
    assert failed.error is not None
    canceled = await wait_for_run(services, canceled_id)
    assert (canceled.workflow_id, canceled.status) == (CANCELED_RUN["workflowId"], "CANCELED")
    original = await wait_for_run(services, original_id)
    replay = await wait_for_run(services, replay_id)
    assert (original.workflow_id, original.status) == (REPLAYED_RUN["workflowId"], "SUCCEEDED")
    assert (replay.trigger, replay.status) == ("replay", "SUCCEEDED")
    assert replay.trigger_metadata["replayOfRunId"] == original_id
    assert replay.input == original.input == REPLAYED_RUN["payload"]
    detail = await get_run_detail(services, original_id)
    assert [entry.action for entry in detail.audit] == ["replay"]
