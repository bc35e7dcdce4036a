"""``runstudio expr`` in process: the contract's clock, publish checks, error objects and the cases loop."""

import json
import pickle
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.expressions import ERROR_CODES, EvalEnv, ExpressionError, evaluate
from runstudio.cli import run
from runstudio.commands.expr import (
    BAD_INPUT,
    REFUSED_AT_PUBLISH,
    build_context,
    clock_env,
    evaluate_for_author,
    run_case_lines,
)

FIXED = clock_env("2024-05-01T12:00:00.123456+02:00")
CONTEXT = build_context({"ticket": {"id": "T-1", "tags": ["a", "b"]}}, {"count": 2}, tenant="acme")


class TestErrorFields:
    def test_a_syntax_error_carries_jsonata_code_and_position(self) -> None:
        with pytest.raises(ExpressionError) as caught:
            evaluate("payload.(", CONTEXT, FIXED, step_path="s1")
        assert (caught.value.code, caught.value.position, caught.value.step_path) == ("S0203", 9, "s1")

    def test_a_runtime_error_carries_its_code(self) -> None:
        with pytest.raises(ExpressionError) as caught:
            evaluate("$sum('a')", CONTEXT, FIXED)
        assert caught.value.code == "T0412"
        assert caught.value.position == 5  # where jsonata-js reports it too

    def test_guardrails_carry_the_contracts_codes(self) -> None:
        with pytest.raises(ExpressionError) as caught:
            evaluate("($f := function($n) { 1 + $f($n + 1) }; $f(0))", CONTEXT, FIXED)
        assert caught.value.code == "D1011"
        with pytest.raises(ExpressionError) as too_big:
            evaluate("payload", CONTEXT, EvalEnv(now=lambda: datetime.now(UTC), max_output_bytes=10))
        assert too_big.value.code == "RS1004" and "RS1004" in ERROR_CODES

    def test_code_and_position_survive_pickling(self) -> None:
        error = ExpressionError("x +", "a.b", "unexpected end", "S0207", 3)
        copy = pickle.loads(pickle.dumps(error))
        assert (copy.expression, copy.step_path, copy.reason, copy.code, copy.position) == (
            "x +",
            "a.b",
            "unexpected end",
            "S0207",
            3,
        )


class TestClock:
    def test_now_is_converted_to_utc_and_shown_to_the_millisecond(self) -> None:
        outcome = evaluate_for_author("[nowIso(), $now(), $millis()]", CONTEXT, FIXED)
        assert outcome.value == ["2024-05-01T10:00:00.123Z", "2024-05-01T10:00:00.123Z", 1714557600123]

    def test_a_naive_now_counts_as_utc(self) -> None:
        assert evaluate_for_author("nowIso()", CONTEXT, clock_env("2024-05-01T12:00:00")).value == (
            "2024-05-01T12:00:00.000Z"
        )

    def test_the_default_clock_is_whole_milliseconds_and_fixed_for_the_process(self) -> None:
        first = evaluate_for_author("$millis()", CONTEXT, clock_env(None)).value
        time.sleep(0.01)
        second = evaluate_for_author("$millis()", CONTEXT, clock_env(None)).value
        assert first == second
        assert abs(first - time.time() * 1000) < 60_000

    def test_an_unreadable_now_is_refused_by_name(self) -> None:
        with pytest.raises(ValueError, match="--now 'tomorrow'"):
            clock_env("tomorrow")


class TestEvaluateForAuthor:
    def test_the_context_has_payload_vars_and_meta_as_paths_and_variables(self) -> None:
        outcome = evaluate_for_author("[payload.ticket.id, $vars.count, meta.tenant, meta.attempt]", CONTEXT, FIXED)
        assert outcome.as_json() == {"value": ["T-1", 2, "acme", 1]}

    def test_undefined_is_shown_as_null(self) -> None:
        assert evaluate_for_author("payload.nothing", CONTEXT, FIXED).as_json() == {"value": None}

    @pytest.mark.parametrize(
        ("source", "fragment"),
        [
            ("$random()", "$random is not allowed"),
            ("$eval('1')", "$eval is not allowed"),
            ("sum([1, 2])", "did you mean $sum?"),
            ("$nosuch(1)", "$nosuch() is not a known function"),
        ],
    )
    def test_what_publish_refuses_is_refused_with_its_reason(self, source: str, fragment: str) -> None:
        error = evaluate_for_author(source, CONTEXT, FIXED).error
        assert error is not None
        assert error["code"] == REFUSED_AT_PUBLISH and fragment in error["message"] and error["position"] is None

    def test_a_compile_error_reports_jsonata_code_and_position(self) -> None:
        assert evaluate_for_author("1 +", CONTEXT, FIXED).as_json() == {
            "error": {"code": "S0207", "message": "Unexpected end of expression at position 3 (JSONata S0207)",
                      "position": 3}
        }  # fmt: skip

    def test_an_expression_with_nul_is_refused_at_the_inbound_boundary(self) -> None:
        error = evaluate_for_author("'a\x00b'", CONTEXT, FIXED).error
        assert error is not None and error["code"] == BAD_INPUT and "NUL" in error["message"]


class TestCases:
    def test_each_line_gives_one_result_with_its_id_and_bad_lines_are_reported_in_place(self) -> None:
        lines = [
            json.dumps({"id": 1, "expr": "payload.a * 2", "payload": {"a": 21}}),
            "",
            json.dumps({"id": "v", "expr": "vars.k & '!'", "vars": {"k": "x"}}),
            "{not json",
            json.dumps({"id": "p", "expr": "payload", "payload": [1]}),
            json.dumps({"id": "e", "expr": "$sum('a')"}),
            json.dumps({"id": "n", "expr": "nowIso()", "now": "2020-01-01T00:00:00Z"}),
        ]
        results = list(run_case_lines(lines, tenant="t", env=FIXED))
        assert [record for record, _ in results[:2]] == [{"id": 1, "value": 42}, {"id": "v", "value": "x!"}]
        bad_json, usable = results[2]
        assert usable is False and bad_json["id"] is None and bad_json["error"]["code"] == BAD_INPUT
        assert "case line 4 is not valid JSON" in bad_json["error"]["message"]
        assert results[3] == (
            {
                "id": "p",
                "error": {
                    "code": BAD_INPUT,
                    "message": "case line 5: payload must be a JSON object, got an array",
                    "position": None,
                },
            },
            False,
        )
        assert results[4][0]["error"]["code"] == "T0412" and results[4][1] is True
        assert results[5] == ({"id": "n", "value": "2020-01-01T00:00:00.000Z"}, True)

    def test_thousands_of_cases_are_each_answered_in_order(self) -> None:
        # Their rate is measured by `python -m bench.expressions` (cases/s), not timed here.
        lines = [json.dumps({"id": i, "expr": "payload.a + 1", "payload": {"a": i}}) for i in range(3000)]
        results = list(run_case_lines(lines, tenant="t", env=FIXED))
        assert [record for record, _ in results] == [{"id": i, "value": i + 1} for i in range(3000)]
        assert all(usable for _, usable in results)


class TestCommandInProcess:
    def test_the_value_is_printed_as_json(self, capsys: pytest.CaptureFixture[str]) -> None:
        code = run(["expr", "payload.x + vars.y", "--payload", '{"x": 1}', "--vars", '{"y": 2}'])
        assert code == 0
        assert json.loads(capsys.readouterr().out) == {"value": 3}

    def test_payload_from_a_file(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        (tmp_path / "p.json").write_text('{"name": "café"}', encoding="utf-8")
        assert run(["expr", "$uppercase(payload.name)", "--payload", f"@{tmp_path / 'p.json'}"]) == 0
        assert json.loads(capsys.readouterr().out) == {"value": "CAFÉ"}

    def test_an_error_is_json_on_stdout_one_line_on_stderr_and_exit_1(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert run(["expr", "payload.("]) == 1
        captured = capsys.readouterr()
        assert json.loads(captured.out)["error"]["code"] == "S0203"
        assert captured.err.startswith("error: Expected ) before end of expression")

    def test_a_payload_that_is_not_json_is_an_error_object(self, capsys: pytest.CaptureFixture[str]) -> None:
        # Not JSON is a usage error (exit 2, as in every command); expr still prints its error object.
        assert run(["expr", "payload", "--payload", "{nope"]) == 2
        error = json.loads(capsys.readouterr().out)["error"]
        assert error["code"] == BAD_INPUT and "--payload is not valid JSON" in error["message"]

    def test_neither_expression_nor_cases_is_a_usage_error(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert run(["expr"]) == 2
        assert "--cases" in capsys.readouterr().err
