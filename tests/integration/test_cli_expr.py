"""``runstudio expr`` as an author runs it: a subprocess, no services, JSON out, and the cases loop."""

import json
from pathlib import Path

import pytest

from engine.services.context import ServiceContext
from engine.services.launch import launch_run
from engine.services.publish import publish_definition
from tests.conftest import cli_env
from tests.helpers import runstudio, wait_for_run


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    # Services that cannot exist: expr must need none of them, and must not start the embedded stack.
    return cli_env(
        RUNSTUDIO_HOME=str(tmp_path / "home"),
        RUNSTUDIO_DATABASE_URL="postgresql://nobody@127.0.0.1:1/none",
        TEMPORAL_ADDRESS="127.0.0.1:1",
    )


def test_evaluates_against_payload_and_vars_without_any_service(env: dict[str, str], tmp_path: Path) -> None:
    payload = tmp_path / "order.json"
    payload.write_text(json.dumps({"items": [{"price": 2.5, "qty": 2}, {"price": 1, "qty": 3}]}), encoding="utf-8")
    result = runstudio(
        "--tenant",
        "acme",
        "expr",
        "{'total': $sum(payload.items.(price * qty)), 'who': meta.tenant, 'left': vars.budget - 8, 'at': nowIso()}",
        "--payload",
        f"@{payload}",
        "--vars",
        '{"budget": 10}',
        "--now",
        "2024-05-01T12:00:00.5Z",
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "value": {"total": 8, "who": "acme", "left": 2, "at": "2024-05-01T12:00:00.500Z"}
    }
    assert result.stderr == ""
    assert not (tmp_path / "home").exists(), "expr must not create or start the embedded stack"


def test_an_error_prints_code_message_position_and_exits_1(env: dict[str, str]) -> None:
    result = runstudio("expr", "payload.ticket.(id", env=env)
    assert result.returncode == 1
    assert json.loads(result.stdout) == {
        "error": {
            "code": "S0203",
            "message": "Expected ) before end of expression at position 18 (JSONata S0203)",
            "position": 18,
        }
    }
    assert result.stderr.startswith("error: Expected ) before end of expression") and "Traceback" not in result.stderr


def test_what_publish_refuses_is_refused_the_same_way(env: dict[str, str]) -> None:
    result = runstudio("expr", "$random() > 0.5", env=env)
    assert result.returncode == 1
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "RS1007" and "$random is not allowed" in error["message"]


def test_control_characters_in_the_result_stay_valid_escaped_json(env: dict[str, str]) -> None:
    result = runstudio("expr", "payload.s & '\u202e'", "--payload", '{"s": "a\\u001bb\\u0085"}', env=env)
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout and "\u202e" not in result.stdout and "\\u202e" in result.stdout
    assert json.loads(result.stdout) == {"value": "a\x1bb\x85\u202e"}


def test_cases_file_gives_one_line_per_case_in_order(env: dict[str, str], tmp_path: Path) -> None:
    # Its rate (cases/s, process start subtracted) is measured by `python -m bench.expressions`, not here.
    count = 4000
    cases = tmp_path / "cases.jsonl"
    shapes = ["payload.a * 2", "payload.name & '!'", "$sum(payload.xs)", "vars.k = 'x' ? 'yes' : 'no'", "payload.("]
    with cases.open("w", encoding="utf-8") as out:
        for n in range(count):
            case = {"id": f"c{n}", "expr": shapes[n % 5], "payload": {"a": n, "name": "n", "xs": [1, n]}}
            out.write(json.dumps({**case, "vars": {"k": "x" if n % 2 else "y"}}) + "\n")

    result = runstudio("expr", "--cases", str(cases), env=env)
    assert result.returncode == 0, result.stderr

    lines = result.stdout.splitlines()
    assert len(lines) == count
    records = [json.loads(line) for line in lines]
    assert [record["id"] for record in records] == [f"c{n}" for n in range(count)]
    assert records[0] == {"id": "c0", "value": 0}
    assert records[1] == {"id": "c1", "value": "n!"}
    assert records[2] == {"id": "c2", "value": 3}
    assert records[3] == {"id": "c3", "value": "yes"} and records[8] == {"id": "c8", "value": "no"}
    assert records[4]["id"] == "c4" and records[4]["error"]["code"] == "S0203" and records[4]["error"]["position"] == 9
    # Every case answered, the last ones too: a value for each good case, the syntax error for each bad one.
    assert records[3995] == {"id": "c3995", "value": 7990} and records[3999]["error"]["code"] == "S0203"
    assert sum("value" in record for record in records) == count * 4 // 5


def test_cases_from_stdin_and_an_unusable_line_exits_1_after_the_rest(env: dict[str, str]) -> None:
    lines = "\n".join([json.dumps({"id": "a", "expr": "1 + 1"}), "[1, 2]", json.dumps({"id": "b", "expr": "'x'"})])
    result = runstudio("expr", "--cases", "-", env=env, input_text=lines + "\n")
    assert result.returncode == 1
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert records[0] == {"id": "a", "value": 2} and records[2] == {"id": "b", "value": "x"}
    assert records[1]["id"] is None and records[1]["error"]["code"] == "RS1008"
    assert "must be a JSON object" in records[1]["error"]["message"]


def test_a_missing_cases_file_is_a_usage_error(env: dict[str, str], tmp_path: Path) -> None:
    result = runstudio("expr", "--cases", str(tmp_path / "none.jsonl"), env=env)
    assert result.returncode == 2
    # Typer draws usage errors in a box that wraps long lines; read it as one line of words.
    words = " ".join(result.stderr.replace("│", " ").split())
    assert "cannot read" in words and "No such file" in words and result.stdout == ""


AUTHORED = {
    "total": "$sum(payload.items.(price * qty))",
    "names": "$join(payload.items[price > 1].name, ', ')",
    "first": "payload.items[0].name & '@' & meta.tenant",
    "doubled": "$map(payload.items, function($i) { $i.qty * 2 })",
    "with_nulls": "$count(payload.notes[$ = null])",
    "text": "$string(payload.big) & ' ' & $lowercase('ΟΔΟΣ')",
    "remainder": "7.5 % 2",
}
"""Expressions a workflow step and `runstudio expr` must agree on: fast-path shapes and interpreter ones."""


async def test_expr_gives_what_a_workflow_step_computes(services: ServiceContext, tmp_path: Path) -> None:
    definition = {
        "id": "expr-agreement",
        "version": 1,
        "name": "expr agreement",
        "steps": [
            {
                "id": "compute",
                "type": "state.assign",
                "assign": {f"vars.{name}": {"$expr": source} for name, source in AUTHORED.items()},
            }
        ],
    }
    payload = {
        "items": [{"name": "tea", "price": 2.5, "qty": 2}, {"name": "pen", "price": 1, "qty": 3}],
        "notes": ["a", None, "b", None],
        "big": 5890840712243076,
    }
    await publish_definition(services, definition)
    detail = await wait_for_run(services, await launch_run(services, workflow_id="expr-agreement", payload=payload))
    assert detail.status == "SUCCEEDED", detail.error

    env = cli_env(RUNSTUDIO_HOME=str(tmp_path / "home"))
    cases = tmp_path / "cases.jsonl"
    cases.write_text(
        "".join(
            json.dumps({"id": name, "expr": source, "payload": payload}) + "\n" for name, source in AUTHORED.items()
        ),
        encoding="utf-8",
    )
    result = runstudio("--tenant", services.tenant, "expr", "--cases", str(cases), env=env)
    assert result.returncode == 0, result.stderr
    from_cli = {record["id"]: record["value"] for record in map(json.loads, result.stdout.splitlines())}
    from_run = {name: detail.vars[name] for name in AUTHORED}
    assert from_cli == from_run
    assert from_run["total"] == 8 and from_run["with_nulls"] == 2 and from_run["remainder"] == 1.5
    assert from_run["first"] == f"tea@{services.tenant}" and from_run["text"] == "5890840712243076 οδος"
