"""One CLI contract (SPEC §10): every command takes ``--json``; every failure is one ``error:`` line.

Exit 2 means the command line is wrong (unknown command or option, a missing argument, a value that is
not what the option takes — ``--payload`` that is not a JSON object, a file that cannot be read); exit 1
means it was understood and refused or failed. Relative times read as in the studio ("10m ago").
"""

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer

from engine.services.context import ServiceContext
from engine.services.launch import launch_run
from engine.services.when import ago
from runstudio.cli import app
from studio_tui import format as studio_format
from tests.conftest import cli_env, services_env
from tests.helpers import publish_examples, runstudio, wait_for_run

BOX = "│╭╰─"
"""Characters of Rich's boxed usage errors, which the contract replaced with one line."""


@pytest.fixture
def env(services: ServiceContext) -> dict[str, str]:
    return services_env(services)


def one_error_line(stderr: str) -> str:
    """The single ``error:`` line a failing command prints, checked to be alone and box-free."""
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), stderr
    assert not any(ch in stderr for ch in BOX) and "Traceback" not in stderr, stderr
    return lines[0]


def _leaf_commands(group: typer.Typer) -> list[tuple[str, list[str]]]:
    """(command path, option names) of every command the CLI has, however deeply grouped."""
    root = typer.main.get_command(group)
    found: list[tuple[str, list[str]]] = []

    def walk(command: object, path: str) -> None:
        children = getattr(command, "commands", None)
        if children:
            for name, child in children.items():
                walk(child, f"{path} {name}")
            return
        names = [opt for param in getattr(command, "params", []) for opt in getattr(param, "opts", [])]
        found.append((path.strip(), names))

    walk(root, "")
    return found


def test_every_command_accepts_json() -> None:
    commands = _leaf_commands(app)
    paths = {path for path, _ in commands}
    assert {"start", "replay", "publish", "event send", "cancel", "export", "doctor", "services status"} <= paths
    assert {"definitions", "tasks", "task complete", "runs", "show", "expr", "migrate", "worker", "tui"} <= paths
    assert {"schedules", "schedule pause", "schedule trigger", "diff", "serve", "codec-server"} <= paths
    without = [path for path, options in commands if "--json" not in options]
    assert without == [], f"commands without --json: {without}"


def test_help_documents_the_exit_codes_the_commands_keep() -> None:
    result = runstudio("--help", env=cli_env())
    assert result.returncode == 0
    words = " ".join(result.stdout.replace("│", " ").split())
    assert "Exit codes: 0 ok; 1 refused or failed" in words
    assert "2 usage error (unknown command or option, bad argument)" in words


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["bogus"], "error: No such command 'bogus'; see `runstudio --help`"),
        (["runs", "--nope"], "error: No such option: --nope"),
        (["runs", "--limit", "many"], "error: Invalid value for '--limit'"),
        (["runs", "--status", "sleepy"], "error: Invalid value for --status: unknown status 'sleepy'"),
        (["show"], "error: Missing argument"),
        (["cancel"], "give the run ids to cancel, or --status S [--workflow W]"),
        (["tui", "--json"], "error: the studio is interactive and has no JSON form"),
        (["services", "start", "--print-env", "--json"], "error: give --print-env or --json, not both"),
    ],
)
def test_usage_errors_are_one_line_naming_the_help_and_exit_2(argv: list[str], message: str, tmp_path: Path) -> None:
    result = runstudio(*argv, env=cli_env(RUNSTUDIO_HOME=str(tmp_path / "home")))
    assert result.returncode == 2, result.stderr
    line = one_error_line(result.stderr)
    assert message in line
    assert line.endswith("--help`"), line
    assert result.stdout == ""
    assert not (tmp_path / "home").exists(), "a usage error must not start anything"


BAD_JSON_COMMANDS = [
    (["start", "echo-chain", "--payload", "{oops"], "--payload", "runstudio start"),
    (["replay", "abcdef01", "--payload", "{oops"], "--payload", "runstudio replay"),
    (["event", "send", "ticket.approved", "--payload", "{oops"], "--payload", "runstudio event send"),
    (["task", "complete", "abcdef01", "--response", "{oops"], "--response", "runstudio task complete"),
    (["expr", "payload.a", "--payload", "{oops"], "--payload", "runstudio expr"),
    (["expr", "vars.a", "--vars", "{oops"], "--vars", "runstudio expr"),
]


@pytest.mark.parametrize(
    ("argv", "option", "command"), BAD_JSON_COMMANDS, ids=[c[2] + " " + c[1] for c in BAD_JSON_COMMANDS]
)
async def test_bad_json_on_the_command_line_is_the_same_usage_error_in_every_command(
    services: ServiceContext, env: dict[str, str], argv: list[str], option: str, command: str
) -> None:
    await publish_examples(services, "echo_chain")
    result = runstudio("--tenant", services.tenant, *argv, env=env)
    assert result.returncode == 2, result.stderr
    line = one_error_line(result.stderr)
    assert line.startswith(f"error: {option} is not valid JSON: Expecting property name enclosed in double quotes")
    assert line.endswith(f"; see `{command} --help`"), line
    if command == "runstudio expr":
        # expr's output is always JSON: the same refusal, as its error object.
        error = json.loads(result.stdout)["error"]
        assert error["code"] == "RS1008" and error["message"] == line.removeprefix("error: ")
    else:
        assert result.stdout == ""
    count = await services.pool.fetchval("SELECT count(*) FROM workflow_runs WHERE tenant = $1", services.tenant)
    assert count == 0


async def test_unreadable_or_wrong_shaped_values_are_usage_errors_but_refused_content_exits_1(
    services: ServiceContext, env: dict[str, str], tmp_path: Path
) -> None:
    tenant = ["--tenant", services.tenant]
    await publish_examples(services, "echo_chain")
    usage = {
        ("--payload", '{"ticket": {"id": NaN}}'): "error: --payload is not usable JSON: NaN is not a JSON number",
        ("--payload", "[1, 2]"): "error: --payload must be a JSON object, got an array",
        ("--payload", f"@{tmp_path / 'missing.json'}"): "error: cannot read the --payload file",
    }
    for (option, value), message in usage.items():
        result = runstudio(*tenant, "start", "echo-chain", option, value, env=env)
        assert result.returncode == 2, (value, result.stderr)
        assert one_error_line(result.stderr).startswith(message), result.stderr

    # Well-formed, but refused: by the inbound rules (a NUL) and by the workflow's payload schema.
    for payload, message in (
        ('{"ticket": {"id": 1}, "note": "a\\u0000b"}', "the string contains NUL"),
        ('{"ticket": {"id": "seven"}}', "$.ticket.id"),
    ):
        refused = runstudio(*tenant, "start", "echo-chain", "--payload", payload, env=env)
        assert refused.returncode == 1, refused.stderr
        assert message in one_error_line(refused.stderr)
    count = await services.pool.fetchval("SELECT count(*) FROM workflow_runs WHERE tenant = $1", services.tenant)
    assert count == 0


async def test_the_json_forms_of_cancel_export_doctor_migrate_and_services_status(
    services: ServiceContext, env: dict[str, str], tmp_path: Path
) -> None:
    tenant = ["--tenant", services.tenant]
    await publish_examples(services, "echo_chain", "timer")
    done = await launch_run(services, workflow_id="echo-chain", payload={"ticket": {"id": 2}})
    waiting = [await launch_run(services, workflow_id="timer", payload={"waitMs": 600_000}) for _ in range(2)]
    await wait_for_run(services, done)
    for run_id in waiting:
        await wait_for_run(services, run_id, frozenset({"WAITING"}))

    bulk = runstudio(*tenant, "cancel", "--status", "WAITING", "--yes", "--json", env=env)
    assert bulk.returncode == 0, bulk.stderr
    outcomes = json.loads(bulk.stdout)
    assert sorted(o["run_id"] for o in outcomes) == sorted(waiting)
    assert {(o["outcome"], o["status_before"], o["reason"]) for o in outcomes} == {("canceled", "WAITING", None)}
    over = runstudio(*tenant, "cancel", done, "--json", env=env)
    assert over.returncode == 0, over.stderr
    [outcome] = json.loads(over.stdout)
    assert outcome["run_id"] == done and outcome["outcome"] == "not_cancelable" and "SUCCEEDED" in outcome["reason"]
    nothing = runstudio(*tenant, "cancel", "--status", "RUNNING", "--workflow", "none", "--yes", "--json", env=env)
    assert nothing.returncode == 0 and json.loads(nothing.stdout) == []

    target = tmp_path / "exports" / "one.json"
    exported = runstudio(*tenant, "export", done, "-o", str(target), "--json", env=env)
    assert exported.returncode == 0, exported.stderr
    assert json.loads(exported.stdout) == {"run_id": done, "path": str(target.resolve())}
    assert json.loads(target.read_text())["run"]["status"] == "SUCCEEDED"
    in_dir = runstudio(*tenant, "export", done[:8], "--output-dir", str(tmp_path / "dir"), "--json", env=env)
    assert in_dir.returncode == 0, in_dir.stderr
    written = Path(json.loads(in_dir.stdout)["path"])
    assert written.parent == (tmp_path / "dir").resolve() and written.name.startswith(f"run-{done}-")
    assert json.loads(await asyncio.to_thread(written.read_text))["run"]["run_id"] == done

    doctor = runstudio(*tenant, "doctor", "--json", env=env)
    report = json.loads(doctor.stdout)
    names = ["database", "migrations", "temporal", "search attributes", "workers", "stuck runs"]
    assert [c["name"] for c in report["checks"]] == names
    assert all(set(c) == {"name", "ok", "detail", "fix"} for c in report["checks"])
    assert report["ok"] is all(c["ok"] for c in report["checks"])
    assert doctor.returncode == (0 if report["ok"] else 1), doctor.stderr
    assert report["checks"][0] == {"name": "database", "ok": True, "detail": "reachable", "fix": None}

    migrated = runstudio("migrate", "--json", env=env)
    assert migrated.returncode == 0 and json.loads(migrated.stdout) == {"applied": []}

    home = tmp_path / "stack-home"
    status = runstudio("services", "status", "--json", env=cli_env(RUNSTUDIO_HOME=str(home)))
    assert status.returncode == 0, status.stderr
    stack = json.loads(status.stdout)
    assert stack["home"] == str(home.resolve())
    assert [(s["name"], s["running"], s["pid"], s["address"]) for s in stack["services"]] == [
        ("postgres", False, None, None),
        ("temporal", False, None, None),
    ]


async def test_json_is_a_no_op_where_the_output_is_json_anyway(services: ServiceContext, env: dict[str, str]) -> None:
    tenant = ["--tenant", services.tenant]
    await publish_examples(services, "echo_chain", "human_task")
    started = runstudio(*tenant, "start", "echo-chain", "--payload", '{"ticket": {"id": 3}}', "--json", env=env)
    assert started.returncode == 0, started.stderr
    run_id = json.loads(started.stdout)["run_id"]
    await wait_for_run(services, run_id)
    replayed = runstudio(*tenant, "replay", run_id, "--json", env=env)
    assert replayed.returncode == 0 and json.loads(replayed.stdout)["replay_of"] == run_id
    sent = runstudio(*tenant, "event", "send", "x.y", "--payload", "{}", "--correlation", "k", "--json", env=env)
    assert sent.returncode == 0 and json.loads(sent.stdout)["correlation_key"] == "k"
    rule = runstudio(*tenant, "event", "rule", "set", "x.y", "payload.id", "--json", env=env)
    assert rule.returncode == 0 and json.loads(rule.stdout) == {"event_name": "x.y", "expression": "payload.id"}
    evaluated = runstudio("expr", "1 + 1", "--json", env=env)
    assert evaluated.returncode == 0 and json.loads(evaluated.stdout) == {"value": 2}

    task_run = await launch_run(services, workflow_id="human-task", payload={"customer": "Ada"})
    await wait_for_run(services, task_run, frozenset({"WAITING"}))
    tasks = runstudio(*tenant, "tasks", "--json", env=env)
    [task] = [t for t in json.loads(tasks.stdout) if t["run_id"] == task_run]
    assert task["title"] == "Review refund for Ada" and task["status"] == "OPEN"
    completed = runstudio(
        *tenant, "task", "complete", task["task_id"], "--response", '{"approved": true}', "--json", env=env
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["status"] == "COMPLETED"


async def test_relative_times_read_as_in_the_studio(services: ServiceContext, env: dict[str, str]) -> None:
    assert studio_format.ago is ago  # one formatter, shared
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    spans = [(timedelta(0), "just now"), (timedelta(seconds=42), "42s ago"), (timedelta(seconds=632), "10m ago")]
    spans += [
        (timedelta(hours=5, minutes=59), "5h ago"),
        (timedelta(days=3), "3d ago"),
        (-timedelta(minutes=4), "in 4m"),
    ]
    assert [ago(now - delta, now) for delta, _ in spans] == [text for _, text in spans]

    tenant = ["--tenant", services.tenant]
    await publish_examples(services, "echo_chain")
    run_id = await launch_run(services, workflow_id="echo-chain", payload={"ticket": {"id": 5}})
    await wait_for_run(services, run_id)
    await services.pool.execute(
        "UPDATE workflow_runs SET started_at = now() - interval '632 seconds' WHERE tenant = $1 AND run_id = $2",
        services.tenant,
        run_id,
    )
    listed = runstudio(*tenant, "runs", env=env)
    assert listed.returncode == 0, listed.stderr
    [row] = [line for line in listed.stdout.splitlines() if line.startswith(run_id)]
    assert "10m ago" in row and "632s" not in row
