"""The expression contract: context, functions, guardrails, determinism, errors and publish checks."""

import pickle
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import jsonata
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.expressions import (
    ALLOWED_FUNCTIONS,
    FORBIDDEN_FUNCTIONS,
    EvalEnv,
    ExpressionError,
    check_expression,
    compile_expression,
    evaluate,
    is_expression,
    resolve,
)
from tests.work_meter import CALLS_PER_MS, CallMeter, work_clock

FIXED = datetime(2001, 2, 3, 4, 5, 6, 789000, tzinfo=UTC)
FIXED_ISO = "2001-02-03T04:05:06.789Z"
FIXED_MILLIS = 981173106789


def env_at(moment: datetime = FIXED, **limits: Any) -> EvalEnv:
    return EvalEnv(now=lambda: moment, **limits)


ENV = env_at()
CONTEXT: dict[str, Any] = {
    "payload": {"ticket": {"id": "T-1", "priority": 3, "tags": ["a", "b"]}},
    "vars": {"lookup": {"status": "open"}, "count": 2, "nothing": None},
    "meta": {"run_id": "r-1", "workflow_id": "wf", "workflow_version": 4, "tenant": "acme", "attempt": 1},
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


class TestContext:
    @pytest.mark.parametrize(
        ("source", "expected"),
        [
            ("payload.ticket.id", "T-1"),
            ("vars.lookup.status", "open"),
            ("meta.run_id & '/' & meta.tenant", "r-1/acme"),
            ("$payload.ticket.priority + $vars.count", 5),
            ("$meta.workflow_version", 4),
            ("payload.ticket.tags", ["a", "b"]),
        ],
    )
    def test_paths_and_variables_reach_the_context(self, source: str, expected: Any) -> None:
        assert evaluate(source, CONTEXT, ENV) == expected

    def test_loop_locals_and_a_custom_item_var(self) -> None:
        context = {**CONTEXT, "ticket": {"id": 9}, "item": {"id": 9}, "index": 1, "length": 3,
                   "isFirst": False, "isLast": False}  # fmt: skip
        assert evaluate("[ticket.id, $ticket.id, $item.id, index, $index, length, isFirst]", context, ENV) == [
            9, 9, 9, 1, 1, 3, False,
        ]  # fmt: skip

    def test_a_context_key_named_like_a_function_does_not_shadow_it(self) -> None:
        context = {**CONTEXT, "length": 3}
        assert evaluate("[length, $length('abcd')]", context, ENV) == [3, 4]

    def test_error_inside_catch_is_a_path_while_error_stays_a_function(self) -> None:
        context = {**CONTEXT, "error": {"category": "ActionError", "message": "boom"}}
        assert evaluate("[error.category & ': ' & error.message, $type($error)]", context, ENV) == [
            "ActionError: boom", "function",
        ]  # fmt: skip

    def test_undefined_and_null_both_become_none(self) -> None:
        assert evaluate("payload.missing", CONTEXT, ENV) is None
        assert evaluate("vars.nothing", CONTEXT, ENV) is None
        assert evaluate("null", CONTEXT, ENV) is None

    def test_json_null_in_the_context_exists(self) -> None:
        assert evaluate("[$exists(vars.nothing), $exists(vars.absent)]", CONTEXT, ENV) == [True, False]

    def test_results_are_plain_fresh_containers(self) -> None:
        result = evaluate("payload.ticket.tags", CONTEXT, ENV)
        assert type(evaluate("[1, 2]", CONTEXT, ENV)) is list
        result.append("mutated")
        assert CONTEXT["payload"]["ticket"]["tags"] == ["a", "b"]

    def test_a_mapping_that_is_not_a_dict_is_accepted(self) -> None:
        from types import MappingProxyType

        assert evaluate("vars.count", MappingProxyType(CONTEXT), ENV) == 2

    @given(value=json_values)
    def test_any_json_value_comes_back_unchanged(self, value: Any) -> None:
        assert evaluate("$payload", {"payload": value}, ENV) == value


class TestFunctions:
    def test_clock_functions_read_env_now(self) -> None:
        assert evaluate("[$now(), $nowIso(), $millis()]", {}, ENV) == [FIXED_ISO, FIXED_ISO, FIXED_MILLIS]

    def test_now_iso_written_bare_as_the_spec_does_reads_env_now(self) -> None:
        assert evaluate("[nowIso(), $nowIso(), $string(nowIso())]", {}, ENV) == [FIXED_ISO] * 3

    def test_the_bare_now_iso_rewrite_leaves_strings_and_fields_alone(self) -> None:
        context = {"payload": {"nowIso": "a field"}}
        assert evaluate("'nowIso() ' & payload.nowIso", context, ENV) == "nowIso() a field"

    def test_clock_functions_agree_with_each_other(self) -> None:
        assert evaluate("$toMillis($nowIso()) = $millis() and $now() = $nowIso()", {}, ENV) is True

    def test_now_accepts_a_picture_and_time_zone(self) -> None:
        assert evaluate("$now('[Y0001]-[M01]-[D01] [H01]:[m01]', '+0100')", {}, ENV) == "2001-02-03 05:05"

    def test_other_time_zones_are_converted_to_utc(self) -> None:
        plus_two = FIXED.astimezone(timezone(timedelta(hours=2)))
        assert evaluate("$nowIso()", {}, env_at(plus_two)) == FIXED_ISO

    def test_a_naive_clock_counts_as_utc_not_host_time(self) -> None:
        assert evaluate("$millis()", {}, env_at(FIXED.replace(tzinfo=None))) == FIXED_MILLIS

    def test_sub_millisecond_precision_is_truncated(self) -> None:
        assert evaluate("$nowIso()", {}, env_at(FIXED + timedelta(microseconds=999))) == FIXED_ISO

    def test_each_evaluation_reads_its_own_clock(self) -> None:
        later = FIXED + timedelta(days=1)
        assert evaluate("$millis()", {}, env_at(later)) - evaluate("$millis()", {}, ENV) == 86_400_000

    def test_clock_is_not_stale_after_another_expression_is_compiled(self) -> None:
        # jsonata-python's own $now()/$millis() read the timestamp of the last expression compiled.
        source = "[$now(), $millis(), $nowIso()]"
        assert evaluate(source, {}, ENV) == [FIXED_ISO, FIXED_MILLIS, FIXED_ISO]
        compile_expression("'compiled later ' & $string(42)")
        jsonata.Jsonata("1 + 1").evaluate(None)
        assert evaluate(source, {}, ENV) == [FIXED_ISO, FIXED_MILLIS, FIXED_ISO]

    def test_random_without_a_source_is_rejected(self) -> None:
        with pytest.raises(ExpressionError, match=r"\$random\(\) is not available"):
            evaluate("$random()", {}, ENV)

    def test_random_uses_the_bound_source(self) -> None:
        env = EvalEnv(now=lambda: FIXED, random=lambda: 0.25)
        assert evaluate("$random() * 4", {}, env) == 1.0

    @pytest.mark.parametrize("source", ["$eval('1 + 1')", "$shuffle([1, 2, 3])", "$map([1], $eval)"])
    def test_forbidden_functions_fail_at_run_time(self, source: str) -> None:
        with pytest.raises(ExpressionError, match="is not available"):
            evaluate(source, {}, ENV)

    def test_forbidden_inside_a_higher_order_call_is_still_blocked(self) -> None:
        with pytest.raises(ExpressionError, match=r"\$random\(\) is not available"):
            evaluate("$sort([3, 1, 2], function($a, $b) { $random() > 0.5 })", {}, ENV)

    def test_the_allowed_and_forbidden_lists_cover_every_jsonata_builtin(self) -> None:
        builtins = set(jsonata.Jsonata.static_frame.bindings)
        assert builtins | {"nowIso"} == ALLOWED_FUNCTIONS | FORBIDDEN_FUNCTIONS.keys()
        assert not ALLOWED_FUNCTIONS & FORBIDDEN_FUNCTIONS.keys()


class TestGuardrails:
    def test_an_endless_loop_hits_the_time_limit(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # The guard's clock counts calls (tests/work_meter.py): the loop stops within its budget of work.
        with work_clock(monkeypatch, CALLS_PER_MS) as clock:
            with pytest.raises(ExpressionError, match="time limit of 50 ms"):
                evaluate("($f := function($n) { $f($n + 1) }; $f(0))", {}, env_at(timeout_ms=50))
            spent = clock.calls_since_start(clock.meter.calls)
        assert spent <= 1.1 * clock.budget(50), spent

    def test_endless_recursion_hits_the_depth_limit_fast(self) -> None:
        evaluate("1", {}, ENV)  # the contract's first-use costs are not the recursion's
        with CallMeter() as meter, pytest.raises(ExpressionError, match="recursion deeper than the limit of 200"):
            evaluate("($f := function($n) { 1 + $f($n + 1) }; $f(0))", {}, ENV)
        # Work in proportion to the depth limit (~180 calls a level), not to Python's own recursion limit.
        assert meter.calls < 1000 * ENV.max_depth, meter.calls

    def test_bounded_recursion_within_the_limit_works(self) -> None:
        assert evaluate("($f := function($n) { $n = 0 ? 0 : 1 + $f($n - 1) }; $f(20))", {}, ENV) == 20

    def test_python_recursion_limit_is_an_expression_error(self) -> None:
        with pytest.raises(ExpressionError, match="nests too deeply for the evaluator"):
            evaluate("($f := function($n) { 1 + $f($n + 1) }; $f(0))", {}, env_at(max_depth=10**7))

    def test_deep_nesting_does_not_compile(self) -> None:
        with pytest.raises(ExpressionError, match="nests too deeply to compile"):
            evaluate("(" * 5000 + "1" + ")" * 5000, {}, ENV)

    def test_a_cached_expression_does_not_time_out_later(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # jsonata-python's own timeout clock starts at compile time: evaluating a cached expression
        # two seconds later would fail at once. Move the clock two seconds on after compiling.
        source = "payload.ticket.id & ' (cached)'"
        compile_expression(source)
        real_monotonic, real_time = time.monotonic, time.time
        monkeypatch.setattr(time, "monotonic", lambda: real_monotonic() + 2.0)
        monkeypatch.setattr(time, "time", lambda: real_time() + 2.0)
        assert evaluate(source, CONTEXT, env_at(timeout_ms=50)) == "T-1 (cached)"

    def test_a_cached_expression_does_not_time_out_after_a_real_pause(self) -> None:
        source = "payload.ticket.priority * 2"
        compile_expression(source)
        time.sleep(0.12)
        assert evaluate(source, CONTEXT, env_at(timeout_ms=100)) == 6

    def test_output_over_the_size_limit(self) -> None:
        with pytest.raises(ExpressionError, match="over the limit of 100"):
            evaluate("[1..100]", {}, env_at(max_output_bytes=100))

    def test_output_size_counts_utf8_bytes(self) -> None:
        assert evaluate("'éé'", {}, env_at(max_output_bytes=6)) == "éé"  # "éé" with quotes: 6 bytes
        with pytest.raises(ExpressionError, match="is 6 bytes"):
            evaluate("'éé'", {}, env_at(max_output_bytes=5))

    @pytest.mark.parametrize(("source", "kind"), [("function($x) { $x }", "function"),
                                                  ("$uppercase", "function"), ("/ab+/", "Pattern"),
                                                  ("{'f': $string}", "function")])  # fmt: skip
    def test_results_that_are_not_json(self, source: str, kind: str) -> None:
        with pytest.raises(ExpressionError, match=f"not JSON: it contains a {kind}"):
            evaluate(source, {}, ENV)

    def test_limits_must_be_positive(self) -> None:
        with pytest.raises(ValueError, match="positive"):
            EvalEnv(now=lambda: FIXED, timeout_ms=0)

    @pytest.mark.parametrize(
        "source",
        ["($__evaluate_entry := null; 1)", "(function($__evaluate_exit) { 1 })(null)", "[1]@$__evaluate_entry.(1)"],
    )
    def test_reserved_names_cannot_switch_the_guard_off(self, source: str) -> None:
        with pytest.raises(ExpressionError, match="names starting with __ are reserved"):
            evaluate(source, {}, ENV)


class TestErrors:
    def test_compile_error_names_expression_step_and_reason(self) -> None:
        with pytest.raises(ExpressionError) as caught:
            evaluate("payload.(", CONTEXT, ENV, step_path="root.steps[1]")
        error = caught.value
        assert (error.expression, error.step_path) == ("payload.(", "root.steps[1]")
        assert "S0" in error.reason
        assert str(error) == f"expression 'payload.(' at root.steps[1]: {error.reason}"

    def test_runtime_error_reason(self) -> None:
        with pytest.raises(ExpressionError, match="boom") as caught:
            evaluate("$error('boom')", {}, ENV, step_path="root.steps[0].then[2]")
        assert caught.value.step_path == "root.steps[0].then[2]"

    def test_division_by_zero_is_a_jsonata_code_not_python_text(self) -> None:
        # Issue 10: an author sees JSONata's code (D1001), never "ZeroDivisionError".
        with pytest.raises(ExpressionError, match="D1001") as caught:
            evaluate("1 / 0", {}, ENV)
        assert caught.value.code == "D1001"
        assert "ZeroDivisionError" not in caught.value.reason

    def test_without_a_step_path(self) -> None:
        with pytest.raises(ExpressionError, match=r"at \(no step\)"):
            evaluate("$error('x')", {}, ENV)

    def test_pickles(self) -> None:
        error = ExpressionError("a +", "root.steps[0]", "does not compile")
        copy = pickle.loads(pickle.dumps(error))
        assert (copy.expression, copy.step_path, copy.reason, str(copy)) == (
            "a +", "root.steps[0]", "does not compile", str(error),
        )  # fmt: skip

    def test_compile_is_cached(self) -> None:
        assert compile_expression("vars.count + 1") is compile_expression("vars.count + 1")


class TestDeterminism:
    def test_same_expression_context_and_env_give_the_same_result(self) -> None:
        source = "{'id': payload.ticket.id, 'at': $nowIso(), 'n': $count(payload.ticket.tags)}"
        results = {repr(evaluate(source, CONTEXT, ENV)) for _ in range(5)}
        assert results == {repr({"id": "T-1", "at": FIXED_ISO, "n": 2})}

    def test_threads_sharing_cached_expressions_do_not_see_each_other(self) -> None:
        sources = ["payload.n * 2", "($x := payload.n; $x + 1)", "$string(payload.n) & '!'"]
        for source in sources:
            compile_expression(source)
        failures: list[str] = []

        def work(offset: int) -> None:
            for n in range(offset, offset + 150):
                got = [evaluate(source, {"payload": {"n": n}}, ENV) for source in sources]
                if got != [n * 2, n + 1, f"{n}!"]:
                    failures.append(f"{n}: {got}")

        threads = [threading.Thread(target=work, args=(1000 * i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == []


class TestResolve:
    def test_replaces_every_expression_in_nested_json(self) -> None:
        value = {
            "id": {"$expr": "payload.ticket.id"},
            "list": [1, {"$expr": "vars.count * 10"}, {"deep": {"$expr": "meta.tenant"}}],
            "plain": "text",
        }
        assert resolve(value, CONTEXT, ENV) == {
            "id": "T-1", "list": [1, 20, {"deep": "acme"}], "plain": "text",
        }  # fmt: skip

    def test_an_object_with_other_keys_is_data(self) -> None:
        value = {"$expr": "payload.ticket.id", "note": "x"}
        assert resolve(value, CONTEXT, ENV) == value

    def test_returns_copies(self) -> None:
        value = {"a": [1, 2]}
        result = resolve(value, CONTEXT, ENV)
        result["a"].append(3)
        assert value == {"a": [1, 2]}

    def test_a_non_string_expression_fails_with_the_step_path(self) -> None:
        with pytest.raises(ExpressionError, match="must be a string") as caught:
            resolve({"x": {"$expr": 5}}, CONTEXT, ENV, step_path="root.steps[3]")
        assert caught.value.step_path == "root.steps[3]"

    def test_errors_carry_the_step_path(self) -> None:
        with pytest.raises(ExpressionError) as caught:
            resolve([{"$expr": "$error('no')"}], CONTEXT, ENV, step_path="root.steps[0].body[1]")
        assert caught.value.step_path == "root.steps[0].body[1]"

    @pytest.mark.parametrize(
        ("value", "expected"),
        [({"$expr": "x"}, True), ({"$expr": "x", "y": 1}, False), ({"expr": "x"}, False), ("$expr", False)],
    )
    def test_is_expression(self, value: object, expected: bool) -> None:
        assert is_expression(value) is expected


class TestCheckExpression:
    @pytest.mark.parametrize(
        "source",
        [
            "payload.ticket.id",
            "$nowIso()",
            "$now() & $string($millis())",
            "($double := function($x) { $x * 2 }; $double(vars.count))",
            "$map(payload.items, function($item, $i) { $item.price * $i })",
            "payload.items@$it#$pos.($it.name & $string($pos))",
            "payload.items ~> $filter(function($v) { $v.price > 10 }) ~> $count()",
            "$substring(?, 1)('abc')",
        ],
    )
    def test_allowed_expressions(self, source: str) -> None:
        assert check_expression(source) == []

    def test_compile_error(self) -> None:
        (problem,) = check_expression("payload.ticket.id +")
        assert problem.startswith("does not compile: ")
        assert "S0207" in problem

    @pytest.mark.parametrize("name", sorted(FORBIDDEN_FUNCTIONS))
    def test_forbidden_calls(self, name: str) -> None:
        assert check_expression(f"${name}([1, 2])") == [f"${name} is not allowed: {FORBIDDEN_FUNCTIONS[name]}"]

    def test_forbidden_function_passed_as_a_value(self) -> None:
        assert check_expression("$map([1, 2], $random)") == [f"$random is not allowed: {FORBIDDEN_FUNCTIONS['random']}"]

    def test_unknown_function_with_a_suggestion(self) -> None:
        assert check_expression("$upercase('a')") == ["$upercase() is not a known function; did you mean $uppercase?"]

    def test_unknown_function_without_a_suggestion(self) -> None:
        (problem,) = check_expression("$readEnvironment('HOME')")
        assert problem.startswith("$readEnvironment() is not a known function (see ALLOWED_FUNCTIONS")

    def test_reports_each_problem_once(self) -> None:
        problems = check_expression("[$eval('1'), $eval('2'), $nope(), $nope()]")
        assert problems == [
            f"$eval is not allowed: {FORBIDDEN_FUNCTIONS['eval']}",
            "$nope() is not a known function (see ALLOWED_FUNCTIONS in engine.expressions)",
        ]

    @pytest.mark.parametrize(
        ("source", "expected"),
        [
            ("sum([1, 2])", "sum() is not a function: a name without $ reads a field of the input; did you mean $sum?"),
            ("payload.items.count()", "count() is not a function: a name without $ reads a field of the input; "
             "did you mean $count?"),
            ("upercase('a')", "upercase() is not a function: a name without $ reads a field of the input; "
             "did you mean $uppercase?"),
            ("($twice := function($x) { $x * 2 }; twice(2))", "twice() is not a function: a name without $ reads "
             "a field of the input; did you mean $twice?"),
            ("sum(?)", "sum() is not a function: a name without $ reads a field of the input; did you mean $sum?"),
            ("'text'(1)", "a string literal is called as a function; only functions can be called"),
            ("true()", "a true/false/null literal is called as a function; only functions can be called"),
        ],
    )  # fmt: skip
    def test_a_call_of_something_that_is_not_a_function(self, source: str, expected: str) -> None:
        assert check_expression(source) == [expected]

    def test_a_bare_name_without_a_close_function(self) -> None:
        (problem,) = check_expression("zzqqxx(1)")
        assert problem.startswith("zzqqxx() is not a function: a name without $ reads a field of the input (see ")

    @pytest.mark.parametrize(
        "source",
        [
            "$x := 3",
            "($f := function($x) { $x + 1 }; $f(1))",
            "$map([1, 2], function($v) { $v })",
            "(function($x) { $x })(1)",
            "$string(1).$uppercase()",
            "($f := $uppercase; ($f)('a'))",
        ],
    )
    def test_calls_of_bound_functions_pass(self, source: str) -> None:
        assert check_expression(source) == []

    @pytest.mark.parametrize("source", ["nowIso()", "$nowIso()", "payload.nowIso()", "$string(nowIso())"])
    def test_now_iso_may_be_written_bare_or_with_a_dollar(self, source: str) -> None:
        assert check_expression(source) == []

    def test_reserved_names(self) -> None:
        (problem,) = check_expression("$__evaluate_exit")
        assert "names starting with __ are reserved" in problem
