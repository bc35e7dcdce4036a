"""Pre-emptive guardrails: RE2 regexes, the time limit checked during evaluation, element and length limits.

Nothing here times itself (speed is measured in ``bench/``): "stops within its limit" is asserted on the
guard's clock made a count of work (:mod:`tests.work_meter`), "refused at once" as a bound on the calls
or the memory the refusal took, and "linear-time regex" as the match having run on RE2.
"""

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from unittest import mock

import pytest
from jsonata.regex_engine import RegexFlags

from engine import expression_guards
from engine.expression_guards import (
    MAX_ELEMENTS,
    MAX_STRING_LENGTH,
    Pattern,
    active,
    json_length_exceeds,
    re2_engine,
    regex_problem,
)
from engine.expressions import EvalEnv, ExpressionError, check_expression, evaluate
from tests.work_meter import CALLS_PER_MS, CallMeter, peak_bytes, work_clock

ENV = EvalEnv(now=lambda: datetime(2024, 5, 1, 12, 0, tzinfo=UTC))
LIMIT_MS = 1000
STEP = "root.steps[3]"
CATASTROPHIC = "$contains(payload.s, /^(a+)+$/)"


def run(source: str, payload: Any = None, env: EvalEnv = ENV) -> Any:
    return evaluate(source, {"payload": payload if payload is not None else {}}, env, step_path=STEP)


def refused(source: str, payload: Any = None, env: EvalEnv = ENV) -> ExpressionError:
    """The error ``source`` raises."""
    with pytest.raises(ExpressionError) as caught:
        run(source, payload, env)
    return caught.value


class StoppedClock:
    """A guard clock that never advances: under a metered (slowed) run on a loaded machine the time limit
    must not trip first, since these checks are about the size limits."""

    @staticmethod
    def monotonic() -> float:
        return 0.0


def metered(source: str, payload: Any = None, env: EvalEnv = ENV) -> tuple[ExpressionError, int, int]:
    """The error ``source`` raises, the Python-level calls and the peak bytes it took to raise it."""
    run("1", env=env)  # the contract's first-use costs are not the expression's
    with mock.patch.object(expression_guards, "time", StoppedClock), peak_bytes() as peak, CallMeter() as meter:
        error = refused(source, payload, env)
    return error, meter.calls, peak[0]


def stopped_by_the_work_clock(
    monkeypatch: pytest.MonkeyPatch, source: str, timeout_ms: int
) -> tuple[ExpressionError, float]:
    """The error ``source`` raises on a guard whose clock counts calls, and the work it did as a fraction
    of its budget (the calls from the guard's start until the error left ``evaluate``).
    """
    env = EvalEnv(now=ENV.now, timeout_ms=timeout_ms)
    with work_clock(monkeypatch, CALLS_PER_MS) as clock:
        error = refused(source, env=env)
        spent = clock.calls_since_start(clock.meter.calls)
    return error, spent / clock.budget(timeout_ms)


@pytest.fixture
def regex_scans(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, int]]:
    """``(pattern, module of the compiled regex, length of the text)`` of every regex scan evaluations make."""
    scans: list[tuple[str, str, int]] = []
    scan = Pattern.finditer

    def recording_finditer(self: Pattern, string: str) -> Iterator[Any]:
        scans.append((self.pattern, type(self._regex).__module__, len(string)))
        return scan(self, string)

    monkeypatch.setattr(Pattern, "finditer", recording_finditer)
    return scans


class TestRegularExpressionsRunOnRe2:
    def test_the_catastrophic_pattern_over_forty_as_is_answered_by_re2(
        self, regex_scans: list[tuple[str, str, int]]
    ) -> None:
        assert run(CATASTROPHIC, {"s": "a" * 40 + "!"}) is False
        assert run(CATASTROPHIC, {"s": "a" * 40}) is True
        # Python's re needs ~2^40 steps for the first; RE2 is linear in the text. Both scans ran on RE2.
        assert regex_scans == [("^(a+)+$", "re2", 41), ("^(a+)+$", "re2", 40)]

    def test_a_long_text_is_matched_by_re2(self, regex_scans: list[tuple[str, str, int]]) -> None:
        assert run("$contains(payload.s & '!', /^(a+)+$/)", {"s": "a" * 1_000_000}) is False
        assert regex_scans == [("^(a+)+$", "re2", 1_000_001)]

    @pytest.mark.parametrize(
        ("source", "expected"),
        [
            ("$contains('ABC', /b/i)", True),
            ("$contains('ABC', /b/)", False),
            ("$contains('x\\nab', /^ab$/m)", True),
            # Without m, $ is the end of the text only (Python's re would also match before a final \n).
            ("$contains('ab\\n', /ab$/)", False),
            ("$match('on 2024-05-01', /(\\d+)-(\\d+)/)", {"match": "2024-05", "index": 3, "groups": ["2024", "05"]}),
            ("$count($match('a1b22c333', /\\d+/))", 3),
            ("$replace('abc', /(b)/, '[$1$0]')", "a[bb]c"),
            # RE2's own template expansion would mangle non-ASCII replacement text.
            ("$replace('café', /é/, 'è')", "cafè"),
            ("$replace('a-b-c', /-/, '+', 1)", "a+b-c"),
            ("$replace('abc', /b/, function($m) { $uppercase($m.match) })", "aBc"),
            ("$split('a1b22c', /\\d+/)", ["a", "b", "c"]),
            ("/a(b)/('xaby').match", "ab"),
            # JavaScript escapes RE2 spells differently: \\uXXXX and \\s with Unicode spaces.
            ("$contains('café', /caf\\u00e9/)", True),
            ("$replace('a\u00a0b', /\\s/, '_')", "a_b"),
            ("$contains('٣', /\\d/)", False),
            ("$contains('a/b', /a\\/b/)", True),
            ("$contains('a\\nb', /a[^]b/)", True),
            ("$contains('a\\nb', /a\\cJb/)", True),
            ("$contains('ab', /a[]b/)", False),
        ],
    )
    def test_jsonata_regex_semantics(self, source: str, expected: Any) -> None:
        assert run(source) == expected

    def test_regex_literals_compile_to_re2_patterns(self) -> None:
        pattern = re2_engine("a(b)+", RegexFlags(case_insensitive=True, multiline=False))
        assert isinstance(pattern, Pattern)
        assert (repr(pattern), pattern.groups) == ("/a(b)+/i", 1)
        assert pattern.split("xABy") == ["x", "B", "y"]
        assert pattern.sub("<\\g<1>\\g<12>>", "abab") == "<bb2><bb2>"

    @pytest.mark.parametrize(
        ("pattern", "reason"),
        [
            ("(a)\\1", "uses a backreference (\\1)"),
            ("(?<x>a)\\k<x>", "uses a backreference (\\k<x>)"),
            ("a(?=b)", "uses a lookahead ((?=...)"),
            ("a(?!b)", "uses a negative lookahead ((?!...)"),
            ("(?<=a)b", "uses a lookbehind ((?<=...)"),
            ("(?<!a)b", "uses a negative lookbehind ((?<!...)"),
        ],
    )
    def test_what_re2_cannot_run_is_refused_with_the_reason(self, pattern: str, reason: str) -> None:
        problem = regex_problem(pattern)
        assert problem is not None
        assert problem.startswith(f"the regular expression /{pattern}/ {reason}")
        assert "RE2, the linear-time regex engine, cannot run" in problem
        [message] = check_expression(f"$contains(payload.s, /{pattern}/)")
        assert message.startswith(f"does not compile: the regular expression /{pattern}/ {reason}")

    def test_a_class_with_a_digit_and_a_plain_group_are_not_backreferences(self) -> None:
        assert regex_problem("[0-9](a)(?:b)\\d") is None
        assert check_expression("$match(payload.s, /(a)(?:b)[1-9]/)") == []


class TestTheTimeLimitIsCheckedDuringEvaluation:
    @pytest.mark.parametrize(
        "source",
        [
            # A tail call never deepens the stack: only a clock inside the evaluator stops it.
            "($f := function($n) { $f($n + 1) }; $f(0))",
            # A native callback: $map never re-enters the evaluator per element.
            "$count($map([1..100000], $string)) + $count($map([1..100000], $string))",
            "$sort([1..100000], function($a, $b) { $a < $b })[0]",
            "$reduce([1..100000], function($acc, $v) { $acc + $v }, 0) + $count($filter([1..100000], $boolean))",
        ],
    )
    def test_an_evaluation_stops_within_its_limit_plus_ten_percent(
        self, monkeypatch: pytest.MonkeyPatch, source: str
    ) -> None:
        error, spent = stopped_by_the_work_clock(monkeypatch, source, LIMIT_MS)
        assert (error.code, error.reason, error.step_path, error.expression) == (
            "D1012",
            f"ran longer than the time limit of {LIMIT_MS} ms",
            STEP,
            source,
        )
        # Each of these needs several times its budget to finish: a loop the guard does not tick inside
        # runs on past the deadline until the next node, far beyond the 10 %.
        assert spent <= 1.1, f"stopped after {spent:.2f} of its budget"

    def test_a_short_limit_stops_a_loop_as_soon(self, monkeypatch: pytest.MonkeyPatch) -> None:
        error, spent = stopped_by_the_work_clock(monkeypatch, "$sum($map([1..100000], function($v) { $v * 2 }))", 100)
        assert error.code == "D1012" and "100 ms" in error.reason
        assert spent <= 1.1, f"stopped after {spent:.2f} of its budget"

    def test_a_sort_without_a_comparator_stops_at_a_short_limit(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # Unchecked, this sort ran ~6 times past a 100 ms limit. Before sorting, the type check walks the
        # whole array without a tick (one walk of at most MAX_ELEMENTS elements, ~1.5 budgets of 100 ms
        # here), so the bound is the old one: twice the limit.
        error, spent = stopped_by_the_work_clock(monkeypatch, "$sort($reverse([1..100000]))[0]", 100)
        assert (error.code, error.reason) == ("D1012", "ran longer than the time limit of 100 ms")
        assert spent <= 2.0, f"stopped after {spent:.2f} of its budget"

    def test_no_guard_stays_active_after_an_evaluation(self) -> None:
        refused("($f := function($n) { $f($n + 1) }; $f(0))", env=EvalEnv(now=ENV.now, timeout_ms=50))
        assert active() is None
        assert run("$count([1..3])") == 3


class TestElementAndLengthLimits:
    def test_the_range_of_the_issue_is_refused_by_the_range_limit_at_once(self) -> None:
        error, calls, _ = metered("$sum([1..9999999])")
        # Summing even the largest allowed range takes several calls per element: none was visited.
        assert calls < MAX_ELEMENTS, calls
        assert (error.code, error.step_path, error.expression) == ("D2014", STEP, "$sum([1..9999999])")
        assert error.reason == f"the range [1..9999999] has 9,999,999 elements, over the limit of {MAX_ELEMENTS:,}"

    def test_a_range_at_the_limit_is_allowed_and_one_past_it_is_not(self) -> None:
        assert run(f"$sum([1..{MAX_ELEMENTS}])") == MAX_ELEMENTS * (MAX_ELEMENTS + 1) // 2
        error = refused(f"[0..{MAX_ELEMENTS}]")
        assert error.code == "D2014"

    def test_a_built_array_over_the_limit_is_refused(self) -> None:
        source = "$count($append([1..100000], [1..100000]))"
        error, calls, _ = metered(source)
        # Refused as it is built, before anything walks it element by element.
        assert calls < MAX_ELEMENTS, calls
        assert (error.code, error.reason) == (
            "RS2002",
            f"built an array of 200,000 elements, over the limit of {MAX_ELEMENTS:,} elements",
        )

    def test_a_doubling_string_stops_at_the_length_limit(self) -> None:
        error, _, peak = metered("$length($reduce([1..40], function($acc, $v) { $acc & $acc }, 'ab'))")
        # The refused string and its two halves, never the next doubling (twice the limit on its own).
        assert peak < 2 * MAX_STRING_LENGTH, peak
        assert error.code == "RS2002"
        assert error.reason.startswith("built a string of 8,388,608 characters, over the limit of 8,000,000")

    @pytest.mark.parametrize(
        ("source", "reason"),
        [
            ("$pad('x', 1000000000)", "$pad's result would be a string of 1,000,000,000 characters"),
            ("$pad('x', -1e12)", "$pad's result would be a string of 1,000,000,000,000 characters"),
            # 2^16 references to one 100,000-character string: 6.5 G characters if joined.
            (
                "$join($reduce([1..16], function($a, $v) { $append($a, $a) }, [$pad('', 100000, 'x')]))",
                "$join's result would be a string of",
            ),
            (
                "$string($reduce([1..16], function($a, $v) { $append($a, $a) }, [$pad('', 100000, 'x')]))",
                "$string would",
            ),
            ("$split($pad('', 200000, 'x'), '')", "200,000 elements, over the limit of 100,000"),
            ("$replace($pad('', 100000, 'x'), 'x', $pad('', 1000, 'y'))", "$replace's result would be"),
        ],
    )
    def test_a_string_is_refused_before_it_is_built(self, source: str, reason: str) -> None:
        error, _, peak = metered(source)
        # Each would be a string of at least MAX_STRING_LENGTH characters; not even a quarter was allocated.
        assert peak < MAX_STRING_LENGTH // 4, peak
        assert error.code == "RS2002"
        assert reason in error.reason

    def test_a_result_of_shared_references_is_measured_without_serialising_it(self) -> None:
        source = "$reduce([1..16], function($a, $v) { $append($a, $a) }, [$pad('', 100000, 'x')])"
        error, _, peak = metered(source)
        # As JSON it is 6.5 G characters; measuring it allocated less than a quarter of one string at the limit.
        assert peak < MAX_STRING_LENGTH // 4, peak
        assert (error.code, error.reason) == ("RS1004", "the result is over the limit of 262144 bytes of JSON")

    def test_json_length_walk_stops_at_the_limit(self) -> None:
        shared = "x" * 1000
        assert json_length_exceeds([shared] * 10**6, 5000) is True
        assert json_length_exceeds({"k": [1, "ab", None]}, 20) is False
        assert json_length_exceeds({"k": [1, "ab", None]}, 5) is True

    def test_a_string_at_the_limit_is_allowed(self) -> None:
        assert run(f"$length($pad('', {MAX_STRING_LENGTH}, 'x'))") == MAX_STRING_LENGTH


class TestLinearBuiltins:
    def test_distinct_is_linear_and_keeps_jsonata_equality(self, monkeypatch: pytest.MonkeyPatch) -> None:
        source = "$distinct([1, 1.0, true, 'a', {'x': 1, 'y': [2]}, {'y': [2], 'x': 1}, [1, 2], [1, 2], 'a'])"
        assert run(source) == [1, True, "a", {"x": 1, "y": [2]}, [1, 2]]
        # Upstream compares each element with every kept one: over 10^9 comparisons here. On a clock that
        # counts calls, 1,000 ms is 20 calls per element of the 100,000: linear work fits (~5 per element),
        # a quadratic $distinct runs out of it and fails with D1012.
        budget = EvalEnv(now=ENV.now, timeout_ms=1000)
        with work_clock(monkeypatch, CALLS_PER_MS):
            assert run("$count($distinct($append([1..50000], [1..50000])))", env=budget) == 50_000
