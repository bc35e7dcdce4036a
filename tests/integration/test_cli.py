"""The ``runstudio`` command line against real services: exit codes, stderr, the --json shapes."""

import json
from pathlib import Path

import pytest

from engine.services.context import ServiceContext
from engine.services.launch import launch_run
from tests.conftest import cli_env, services_env
from tests.helpers import EXAMPLES, publish_examples, runstudio, wait_for_run


@pytest.fixture
def env(services: ServiceContext) -> dict[str, str]:
    return services_env(services)


def test_publish_invalid_file_lists_every_problem_without_a_traceback(
    services: ServiceContext, env: dict[str, str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "id": "bad",
                "version": 1,
                "name": "Bad",
                "steps": [
                    {"id": "a", "type": "action.call", "action": "no.such", "version": 1},
                    {"id": "a", "type": "state.assign", "assign": {"result": 1}},
                    {"id": "c", "type": "control.forEach", "items": [], "body": [], "concurrency": 4},
                ],
            }
        )
    )
    result = runstudio("--tenant", services.tenant, "publish", str(bad), env=env)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "$.steps[0].action" in result.stderr
    assert "$.steps[1].id" in result.stderr
    assert "$.steps[1].assign" in result.stderr
    assert "$.steps[2].concurrency" in result.stderr
    assert result.stdout == ""


def test_publish_then_start_then_runs_and_show_json_shapes(services: ServiceContext, env: dict[str, str]) -> None:
    tenant = ["--tenant", services.tenant]
    published = runstudio(*tenant, "publish", str(EXAMPLES / "echo_chain.json"), env=env)
    assert published.returncode == 0, published.stderr
    doc = json.loads(published.stdout)
    assert doc["workflow_id"] == "echo-chain" and doc["version"] == 1 and len(doc["definition_hash"]) == 64

    listed = runstudio(*tenant, "definitions", env=env)
    assert "echo-chain" in listed.stdout

    started = runstudio(*tenant, "start", "echo-chain", "--payload", '{"ticket": {"id": 1}}', env=env)
    assert started.returncode == 0, started.stderr
    run_id = json.loads(started.stdout)["run_id"]

    runs = runstudio(*tenant, "runs", "--json", env=env)
    items = json.loads(runs.stdout)
    assert [i["run_id"] for i in items] == [run_id]
    assert set(items[0]) >= {
        "run_id",
        "workflow_id",
        "workflow_version",
        "status",
        "trigger",
        "stuck",
        "started_at",
        "step_count",
    }


async def test_runs_filters_are_the_studios(services: ServiceContext, env: dict[str, str]) -> None:
    await publish_examples(services, "echo_chain", "timer")
    echo = await launch_run(services, workflow_id="echo-chain", payload={"ticket": {"id": 1}})
    timer = await launch_run(services, workflow_id="timer", payload={})
    tenant = ["--tenant", services.tenant]

    def listed(*args: str) -> list[str]:
        result = runstudio(*tenant, "runs", "--json", *args, env=env)
        assert result.returncode == 0, result.stderr
        return [item["run_id"] for item in json.loads(result.stdout)]

    assert listed("--workflow", "ECHO") == [echo]  # a case-insensitive prefix, not an exact id
    assert listed("--since", "1h") == [timer, echo]
    assert listed("--since", "2999-01-01T00:00Z") == []
    assert listed("--trigger", "manual", "--workflow", "tim") == [timer]
    assert listed("--trigger", "replay") == []
    assert listed("--stuck") == []
    refused = runstudio(*tenant, "runs", "--since", "soon", env=env)
    assert refused.returncode == 2 and refused.stderr.startswith("error: ") and "--since" in refused.stderr


async def test_show_json_shape_after_the_run(services: ServiceContext, env: dict[str, str]) -> None:
    from engine.services.launch import launch_run
    from tests.helpers import publish_examples

    await publish_examples(services, "echo_chain")
    run_id = await launch_run(services, workflow_id="echo-chain", payload={"ticket": {"id": 5}})
    await wait_for_run(services, run_id)
    shown = runstudio("--tenant", services.tenant, "show", run_id, "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    doc = json.loads(shown.stdout)
    assert set(doc) >= {
        "run_id",
        "status",
        "workflow_id",
        "workflow_version",
        "engine",
        "trigger",
        "trigger_metadata",
        "input",
        "vars",
        "output",
        "error",
        "parent_run_id",
        "stuck",
        "steps",
        "waits",
        "invocations",
    }
    assert doc["status"] == "SUCCEEDED"
    assert set(doc["steps"][0]) >= {"path", "step_id", "type", "status", "attempt", "error"}
    assert set(doc["invocations"][0]) >= {"action", "status", "idempotency_key", "attempt"}


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("{not json", "payload is not valid JSON"),
        ('{"ticket": {"id": "seven"}}', "$.ticket.id"),
        ("[1, 2]", "payload must be a JSON object"),
    ],
)
def test_start_with_a_bad_payload_creates_no_run(
    services: ServiceContext, env: dict[str, str], payload: str, message: str
) -> None:
    tenant = ["--tenant", services.tenant]
    assert runstudio(*tenant, "publish", str(EXAMPLES / "echo_chain.json"), env=env).returncode == 0
    result = runstudio(*tenant, "start", "echo-chain", "--payload", payload, env=env)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    listed = json.loads(runstudio(*tenant, "runs", "--json", env=env).stdout)
    assert listed == []


async def test_a_payload_over_two_megabytes_is_refused_before_anything_is_created(
    services: ServiceContext, env: dict[str, str], tmp_path: Path
) -> None:
    tenant = ["--tenant", services.tenant]
    assert runstudio(*tenant, "publish", str(EXAMPLES / "branching.json"), env=env).returncode == 0
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"priority": "x" * (2 * 1024 * 1024)}))
    result = runstudio(*tenant, "start", "branching", "--payload", f"@{big}", env=env)
    assert result.returncode == 1
    assert "the limit is 2097152 bytes" in result.stderr
    assert await services.pool.fetchval("SELECT count(*) FROM workflow_runs WHERE tenant = $1", services.tenant) == 0


async def test_start_when_temporal_is_unreachable_marks_the_run_failed_with_the_reason(
    services: ServiceContext, env: dict[str, str]
) -> None:
    tenant = ["--tenant", services.tenant]
    assert runstudio(*tenant, "publish", str(EXAMPLES / "branching.json"), env=env).returncode == 0
    closed = {**env, "TEMPORAL_ADDRESS": "127.0.0.1:1"}
    result = runstudio(*tenant, "start", "branching", env=closed)
    assert result.returncode == 1
    assert "Temporal at 127.0.0.1:1 is unreachable; run " in result.stderr and "is marked FAILED" in result.stderr
    rows = await services.pool.fetch(
        "SELECT status, error_json, completed_at FROM workflow_runs WHERE tenant = $1", services.tenant
    )
    assert len(rows) == 1
    assert rows[0]["status"] == "FAILED"
    assert rows[0]["error_json"]["category"] == "StartRefused"
    assert "127.0.0.1:1" in rows[0]["error_json"]["message"]
    assert rows[0]["completed_at"] is not None


def test_unknown_workflow_and_unknown_run_say_what_to_do(services: ServiceContext, env: dict[str, str]) -> None:
    tenant = ["--tenant", services.tenant]
    started = runstudio(*tenant, "start", "nope", env=env)
    assert started.returncode == 1
    assert "is not published" in started.stderr and "runstudio definitions" in started.stderr
    shown = runstudio(*tenant, "show", "00000000-0000-0000-0000-000000000000", env=env)
    assert shown.returncode == 1
    assert "no run" in shown.stderr and "runstudio runs" in shown.stderr
    not_uuid = runstudio(*tenant, "show", "not-a-uuid", env=env)
    assert not_uuid.returncode == 1 and "is not a run id" in not_uuid.stderr


def test_every_command_has_help_text() -> None:
    env = cli_env()
    root = runstudio("--help", env=env)
    assert root.returncode == 0
    for command in ("services", "migrate", "doctor", "worker", "publish", "definitions", "start", "runs", "show"):
        assert command in root.stdout
        sub = runstudio(command, "--help", env=env)
        assert sub.returncode == 0, (command, sub.stderr)
        assert "Usage" in sub.stdout
