"""Each fix in engine.expression_fixes, pinned to what the JSONata reference (jsonata-js 2.2.2) computes.

Expected values were read from the reference (tests/conformance/reference.mjs); the differential test
(tests/conformance) checks the same behaviour over the whole corpus.
"""

from datetime import UTC, datetime
from typing import Any

import pytest
from jsonata import Utils

from engine.expression_fixes import (
    FIX_ERROR_CODES,
    iso_to_millis,
    js_number_text,
    js_stringify,
    with_json_nulls,
)
from engine.expressions import EvalEnv, ExpressionError, evaluate

ENV = EvalEnv(now=lambda: datetime(2024, 5, 1, 12, 0, tzinfo=UTC))
CONTEXT: dict[str, Any] = {
    "payload": {
        "tags": ["priority", "gift-wrap", "eu"],
        "xs": [1, None, 2, None, 3],
        "price": 7.5,
        "customer": {"name": "Zoë", "phone": None},
        "events": [{"type": "error", "user": None}, {"type": "login", "user": "u1"}],
        "scores": [{"n": "a", "s": 3}, {"n": "b", "s": 1}, {"n": "c", "s": 3}, {"n": "d", "s": 1}],
    },
    "vars": {},
    "meta": {"run_id": "r-1"},
}


def run(source: str, context: dict[str, Any] | None = None) -> Any:
    return evaluate(source, CONTEXT if context is None else context, ENV)


def error_of(source: str) -> ExpressionError:
    with pytest.raises(ExpressionError) as caught:
        run(source)
    return caught.value


class TestArithmetic:
    @pytest.mark.parametrize(
        ("source", "expected"),
        [("7.5 % 2", 1.5), ("-7.5 % 2", -1.5), ("7 % -3", 1), ("payload.price % 1", 0.5), ("5.25 % 1", 0.25)],
    )
    def test_remainder_keeps_the_fraction_and_the_dividend_sign(self, source: str, expected: float) -> None:
        assert run(source) == expected

    @pytest.mark.parametrize("source", ["1 / 0", "0 / 0", "3 % 0"])
    def test_a_non_finite_result_is_d1001_not_a_python_exception(self, source: str) -> None:
        error = error_of(source)
        assert error.code == "D1001"
        assert "ZeroDivisionError" not in error.reason and "math domain" not in error.reason


class TestElvis:
    @pytest.mark.parametrize(
        ("source", "expected"),
        [
            ("-1 ?: 2", -1),
            ("payload.tags[-1] ?: 'none'", "eu"),
            ("payload.tags[5] ?: 'none'", "none"),
            ("0 ?: 2", 2),
            ("payload.customer.phone ?: 'no phone'", "no phone"),
        ],
    )
    def test_the_left_side_is_processed_once(self, source: str, expected: Any) -> None:
        assert run(source) == expected


class TestSort:
    def test_a_comparator_sort_is_stable(self) -> None:
        assert run("$sort(payload.scores, function($a, $b){$a.s > $b.s}).n") == ["b", "d", "a", "c"]
        assert run("$sort(payload.scores, function($a, $b){$a.s < $b.s}).n") == ["a", "c", "b", "d"]

    def test_ties_follow_the_reference_merge_even_for_an_inconsistent_comparator(self) -> None:
        source = '$sort([{"i":"a"},{"i":"b"},{"i":"c"},{"i":"d"}], function($a,$b){true}).i'
        assert run(source) == ["d", "c", "b", "a"]

    def test_order_by_is_stable(self) -> None:
        assert run("payload.scores^(s).n") == ["b", "d", "a", "c"]
        assert run("payload.scores^(>s).n") == ["a", "c", "b", "d"]

    def test_mixed_values_without_a_comparator_are_d3070(self) -> None:
        assert error_of("$sort(['b', 1])").code == "D3070"


class TestString:
    @pytest.mark.parametrize(
        ("source", "expected"),
        [
            ("$string(5890840712243076)", "5890840712243076"),
            ("$string(9007199254740991)", "9007199254740991"),
            ("$string(1e20)", "100000000000000000000"),
            ("$string(1e21)", "1e+21"),
            ("$string(0.1 + 0.2)", "0.3"),
            ("$string(1.23e-7)", "1.23e-7"),
            ("$string(123.456e5)", "12345600"),
            ("$string(1/3)", "0.333333333333333"),
            ('$string({"a":"é"})', '{"a":"é"}'),
            ('$string({"a":"😀", "b": [1, null, "ü"]})', '{"a":"😀","b":[1,null,"ü"]}'),
            ('$string({"a":[1,{"b":null}]}, true)', '{\n  "a": [\n    1,\n    {\n      "b": null\n    }\n  ]\n}'),
            ('\'x\' & {"a": "é"}', 'x{"a":"é"}'),
            ("$string(payload.customer)", '{"name":"Zoë","phone":null}'),
        ],
    )
    def test_printed_as_the_reference_prints(self, source: str, expected: str) -> None:
        assert run(source) == expected

    @pytest.mark.parametrize(
        ("number", "text"),
        [(0, "0"), (-0.0, "0"), (1.5, "1.5"), (1e21, "1e+21"), (123456789012345680000, "123456789012345680000"),
         (1e-7, "1e-7"), (0.000001, "0.000001"), (-2.5e-10, "-2.5e-10")],
    )  # fmt: skip
    def test_js_number_text(self, number: float, text: str) -> None:
        assert js_number_text(number) == text

    def test_js_stringify_escapes_only_what_json_stringify_escapes(self) -> None:
        assert js_stringify(['é"\\\n\x01', Utils.NULL_VALUE]) == '["é\\"\\\\\\n\\u0001",null]'


class TestNullsInsideArrays:
    @pytest.mark.parametrize(
        ("source", "expected"),
        [
            ("$count(payload.xs[$ = null])", 2),
            ("$map(payload.xs, function($x){$x})", [1, None, 2, None, 3]),
            ("$count($filter(payload.xs, function($x){$x = null}))", 2),
            ("payload.xs{$string($): $count($)}", {"1": 1, "2": 1, "3": 1, "null": 2}),
            ("payload.events{type: $count(user)}", {"error": 1, "login": 1}),
            ("$each(payload.customer, function($v, $k){$k & '=' & $string($v)})", ["name=Zoë", "phone=null"]),
            ("$count(payload.customer.phone)", 1),
            ("$exists(payload.customer.phone)", True),
        ],
    )
    def test_json_null_is_a_value(self, source: str, expected: Any) -> None:
        assert run(source) == expected

    def test_null_does_not_match_a_typed_parameter(self) -> None:
        assert error_of("$number(payload.customer.phone)").code == "T0410"

    def test_conversion_copies_only_containers_that_hold_null(self) -> None:
        clean = {"a": [1, 2], "b": {"c": "d"}}
        assert with_json_nulls(clean) is clean
        mixed = {"keep": clean, "xs": [1, None]}
        converted = with_json_nulls(mixed)
        assert converted is not mixed and converted["keep"] is clean
        assert converted["xs"] == [1, Utils.NULL_VALUE]
        assert mixed["xs"] == [1, None]  # the context itself is never changed


class TestNumber:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [("12", 12), ("-5", -5), ("1e3", 1000), ("12.50", 12.5), ("0b101", 5), ("0x1F", 31), ("0o17", 15)],
    )
    def test_accepted_forms(self, text: str, expected: float) -> None:
        assert run(f"$number('{text}')") == expected

    @pytest.mark.parametrize("text", [" 12 ", ".5", "5.", "1_000", "+5", "١٢", "0x", "1e400", "NaN", "Infinity", "abc"])
    def test_refused_forms_are_d3030(self, text: str) -> None:
        error = error_of(f"$number('{text}')")
        assert error.code == "D3030"
        assert error.position == 8
        assert "ValueError" not in error.reason


class TestCaseMapping:
    @pytest.mark.parametrize(
        ("source", "expected"),
        [("$lowercase('ΟΔΟΣ')", "οδος"), ("$lowercase('ΣΑΣ ΟΔΟΣ')", "σας οδος"), ("$lowercase('Σ')", "σ"),
         ("$uppercase('straße')", "STRASSE")],
    )  # fmt: skip
    def test_as_javascript_maps_case(self, source: str, expected: str) -> None:
        assert run(source) == expected


class TestBase64:
    @pytest.mark.parametrize(
        ("source", "expected"),
        [
            ("$base64encode('café')", "Y2Fm6Q=="),
            ("$base64encode('Straße')", "U3RyYd9l"),
            ("$base64decode('Y2Fm6Q==')", "café"),
            ("$base64decode('Y2Fmw6k=')", "cafÃ©"),
            ("$base64decode('aGk')", "hi"),
        ],
    )
    def test_latin1_as_the_reference(self, source: str, expected: str) -> None:
        assert run(source) == expected

    def test_a_character_above_latin1_is_refused_not_truncated(self) -> None:
        error = error_of("$base64encode('Ā')")
        assert error.code == "RS1102" and "RS1102" in FIX_ERROR_CODES
        assert "U+0100" in error.reason


class TestRegexFunctions:
    @pytest.mark.parametrize("source", ["$replace('abc', /b*/, 'x')", "$replace('abc', /x*/, '-')"])
    def test_a_regex_that_would_loop_on_the_empty_string_is_d1004(self, source: str) -> None:
        assert error_of(source).code == "D1004"

    @pytest.mark.parametrize(
        ("source", "expected"),
        [
            ("$match('aaa', /a*/)", {"match": "aaa", "index": 0, "groups": []}),
            ("$match('😀a😀', /a/).index", 2),
            ("$replace('John Smith', /(\\w+)\\s(\\w+)/, '$2, $1')", "Smith, John"),
            ("$replace('aaaa', /a/, 'aa', 2)", "aaaaaa"),
            ("$replace('abc', /(b)/, '$$')", "a$c"),
            ("$replace('a.b.c', '.', '$0')", "a$0b$0c"),
            ("$replace('abc', /b/, function($m){$uppercase($m.match)})", "aBc"),
            ("$split('a1b22c', /[0-9]+/, 2)", ["a", "b"]),
            ("$contains('Hello', /^h/i)", True),
        ],
    )
    def test_as_the_reference_iterates_matches(self, source: str, expected: Any) -> None:
        assert run(source) == expected

    def test_an_empty_string_pattern_is_d3010(self) -> None:
        assert error_of("$replace('hello', '', 'x')").code == "D3010"


class TestDates:
    @pytest.mark.parametrize(
        ("timestamp", "millis"),
        [
            ("2024-03-09T14:05:33.120Z", 1709993133120),
            ("2024-02-30", 1709251200000),
            ("2024-03", 1709251200000),
            ("2024", 1704067200000),
            ("2024-03-09T14:05:33+0100", 1709989533000),
            ("2024-03-09T24:00:00Z", 1710028800000),
            ("2024-03-09T10:00:00.123456789+05:30", 1709958600123),
            ("0000-01-01T00:00:00Z", -62167219200000),
        ],
    )
    def test_to_millis_reads_what_the_reference_reads(self, timestamp: str, millis: int) -> None:
        assert iso_to_millis(timestamp) == millis
        assert run(f"$toMillis('{timestamp}')") == millis

    @pytest.mark.parametrize(
        "timestamp",
        ["2024-03-09T14:05", "2024-03-09 14:05:33", "not a date", "2024-3-9", "", "2024-13-01", "2024-01-32",
         "2024-03-09T24:00:01Z"],
    )  # fmt: skip
    def test_to_millis_refuses_the_rest_with_d3110(self, timestamp: str) -> None:
        error = error_of(f"$toMillis('{timestamp}')")
        assert error.code == "D3110"
        assert "ValueError" not in error.reason

    def test_from_millis_keeps_every_millisecond(self) -> None:
        assert run("$fromMillis(253402300799999)") == "9999-12-31T23:59:59.999Z"

    def test_a_picture_error_is_a_jsonata_code(self) -> None:
        assert error_of("$fromMillis(0, '[Q]')").code == "D3132"
        assert error_of("$toMillis('9 mars 2024', '[D] [MNn] [Y]')").code == "D3136"


class TestNumbersAndFormatting:
    @pytest.mark.parametrize(
        ("source", "expected"),
        [("$formatNumber(0.125, '0.00')", "0.12"), ("$formatNumber(87.25, '0.0')", "87.2"),
         ("$formatNumber(2.675, '0.00')", "2.68"), ("$formatNumber(1234.5678, '#,##0.00')", "1,234.57"),
         ("$formatNumber(0.5, '0%')", "50%")],
    )  # fmt: skip
    def test_format_number_rounds_half_to_even_on_the_shortest_decimal(self, source: str, expected: str) -> None:
        assert run(source) == expected

    @pytest.mark.parametrize("source", ["$power(-8, 1/3)", "$power(10, 400)"])
    def test_power_without_a_number_is_d3061(self, source: str) -> None:
        assert error_of(source).code == "D3061"

    def test_a_builtin_gets_as_many_arguments_from_map_as_in_the_reference(self) -> None:
        assert run("$map([1.5, 2.5], $round)") == [2, 2.5]

    def test_a_fractional_index_rounds_down(self) -> None:
        assert run("['a','b','c'][-1.5]") == "b"

    def test_an_unsupported_integer_picture_is_d3130(self) -> None:
        error = error_of("$formatInteger(1, 'Q')")
        assert error.code == "D3130"
        assert "RuntimeError" not in error.reason


class TestGuardsStillApply:
    def test_split_into_characters_keeps_the_element_limit(self) -> None:
        error = error_of("$split($pad('', 100001, 'a'), '')")
        assert error.code == "RS2002"
        assert "100,001 elements" in error.reason

    def test_a_stable_sort_still_stops_at_the_time_limit(self) -> None:
        env = EvalEnv(now=ENV.now, timeout_ms=50)
        source = "$sort([1..20000], function($a, $b){$reduce([1..50], function($x, $y){$x + $y}) > 0})"
        with pytest.raises(ExpressionError) as caught:
            evaluate(source, CONTEXT, env)
        assert caught.value.code == "D1012"


class TestStringOrder:
    @pytest.mark.parametrize(
        ("source", "expected"),
        [
            ("'😀' > 'ａ'", False),
            ("'😀' < 'ａ'", True),
            ("'é' > 'z'", True),
            ("$sort(['ａ', '😀', 'b'])", ["b", "😀", "ａ"]),
            ("['ａ', '😀', 'b']^($)", ["b", "😀", "ａ"]),
            ("['ａ', '😀', 'b']^(>$)", ["ａ", "😀", "b"]),
        ],
    )
    def test_strings_order_by_utf16_code_units(self, source: str, expected: Any) -> None:
        assert run(source) == expected


class TestErrorPositions:
    @pytest.mark.parametrize(
        ("source", "code", "position"),
        [
            ("2 * 'a'", "T2002", 3),
            ("'1' + 1", "T2001", 5),
            ("1 < 'a'", "T2009", 3),
            ("$sqrt(-1)", "D3060", 6),
            ("$formatBase(10, 40)", "D3100", 12),
            ("$number('abc')", "D3030", 8),
            ("[1..'a']", "T2004", 4),
        ],
    )
    def test_at_the_reference_position(self, source: str, code: str, position: int) -> None:
        error = error_of(source)
        assert (error.code, error.position) == (code, position)
