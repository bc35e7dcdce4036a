"""The fast path computes exactly what the interpreter computes, or declines: checked on generated documents."""

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import expression_guards
from engine.expression_fast import Declined
from engine.expressions import (
    Compiled,
    EvalEnv,
    ExpressionError,
    _evaluate_raw,
    _Evaluation,
    _to_json,
    compile_expression,
    evaluate,
)
from tests.work_meter import CALLS_PER_MS, work_clock

ENV = EvalEnv(now=lambda: datetime(2024, 5, 1, tzinfo=UTC))

FAST_CORPUS = [
    "payload.a",
    "payload.a.b",
    "payload.a.b.c",
    "payload.items.price",
    "payload.items.tags",
    "payload.items.a.b",
    "$payload.items.price",
    "payload.items[price > 2].b",
    "payload.items[tags = 'x'].price",
    "payload.items[a and price != 1]",
    "payload.items[b].a[c = 'x']",
    "payload.a[price >= 2 or price < 1]",
    "$sum(payload.items.price)",
    "$count(payload.items)",
    "$max(payload.items.price)",
    "$average(payload.a)",
    "$map(payload.items, function($i) { $i.price * 2 })",
    "$map(payload.items, function($v, $k) { $k & ':' & $v.b })",
    "$map(payload.a, function($v, $i, $all) { $count($all) - $i })",
    "$map(payload.items.tags, function($t) { $t & '!' })",
    "payload.a & '-' & payload.b",
    "payload.a + payload.b",
    "payload.a - 1 / payload.b",
    "payload.a = payload.b",
    "payload.a != 'x'",
    "payload.a < payload.b",
    "payload.a ? payload.b : payload.c",
    "payload.a ? payload.b",
    "payload.a and payload.b",
    "payload.a or vars.a",
    "$string(payload.a)",
    "$length(payload.a)",
    "$exists(payload.a.b)",
    "$boolean(payload.items)",
    "$not(payload.a)",
    "$join(payload.items.tags, ',')",
    "$substring(payload.a, 1, 2)",
    "$trim(payload.b) & $lowercase(payload.c)",
    "$abs(payload.a) + $floor(payload.b)",
    "$number(payload.a)",
    "$round(payload.items[0 = 0].price, 1)",
    "vars.a.b = true",
    "payload.items[0].b",
    "payload.a[-1]",
    "payload.items[1].tags[0]",
    "payload.items.tags[-2]",
    "payload.items[price > 1][0]",
]
"""Expressions whose every shape the fast path compiles."""

KEYS = st.sampled_from(["a", "b", "c", "price", "tags", "items"])
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["x", "X", " é ", "", "1", "ΟΔΟΣ"])
)
JSON = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=24,
)
DOCUMENTS = st.dictionaries(KEYS, JSON, max_size=6)


def exact(value: Any) -> str:
    # json text tells 1 from 1.0 and true from 1, which == does not.
    return json.dumps(value, sort_keys=True)


def interpreted(compiled: Compiled, context: dict[str, Any]) -> tuple[str, str]:
    slow = dataclasses.replace(compiled, fast=None)
    run = _Evaluation(ENV)
    try:
        with expression_guards.guarding(run.guard):
            return "value", exact(_to_json(_evaluate_raw(slow, context, run)))
    except Exception as exc:
        return "error", f"{type(exc).__name__}: {exc}"


def fast(compiled: Compiled, context: dict[str, Any]) -> tuple[str, str] | None:
    assert compiled.fast is not None
    run = _Evaluation(ENV)
    try:
        with expression_guards.guarding(run.guard):
            return "value", exact(_to_json(compiled.fast.run(context, context, run.guard)))
    except Declined:
        return None


@pytest.mark.parametrize("source", FAST_CORPUS)
def test_every_corpus_expression_compiles_to_the_fast_path(source: str) -> None:
    assert compile_expression(source).fast is not None


@pytest.mark.parametrize(
    "source",
    [
        "payload.a[1.5]",  # a fractional index
        "payload.a[[0, 1]]",
        "payload.*",
        "payload.**.a",
        "payload.a % 2",
        "$sort(payload.items)",
        "($x := 1; $x + payload.a)",
        "$map(payload.items, $string)",
        "$map(payload.items, function($i) { $string($i) })",  # a tail call is compiled into a thunk
        "payload.a.$uppercase()",
        "$now()",
        "$",
        "payload{a: b}",
        "[payload.a]",
        "payload.items^(price)",
        "$random()",
        "payload.a[b]#$i",
    ],
)
def test_other_shapes_stay_with_the_interpreter(source: str) -> None:
    assert compile_expression(source).fast is None


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=st.sampled_from(FAST_CORPUS), payload=DOCUMENTS, variables=DOCUMENTS)
def test_the_fast_path_agrees_with_the_interpreter_or_declines(
    source: str, payload: dict[str, Any], variables: dict[str, Any]
) -> None:
    context = {"payload": payload, "vars": variables, "meta": {"run_id": "r"}}
    compiled = compile_expression(source)
    taken = fast(compiled, context)
    if taken is not None:
        assert taken == interpreted(compiled, context)


def test_the_fast_path_takes_most_evaluations_of_clean_documents() -> None:
    # Guards against a fast path that always declines (and so would pass the agreement test by doing nothing).
    context = {
        "payload": {
            "a": 3,
            "b": 4,
            "c": "Z",
            "items": [{"price": 1.5, "tags": ["x", "y"], "b": "q", "a": {"b": 2}} for _ in range(3)],
        },
        "vars": {"a": {"b": True}},
    }
    taken = [source for source in FAST_CORPUS if fast(compile_expression(source), context) is not None]
    assert len(taken) >= len(FAST_CORPUS) - 4, sorted(set(FAST_CORPUS) - set(taken))
    for source in taken:
        assert fast(compile_expression(source), context) == interpreted(compile_expression(source), context)


def test_errors_come_from_the_interpreter_with_their_code() -> None:
    with pytest.raises(ExpressionError) as caught:
        evaluate("payload.a + payload.b", {"payload": {"a": 1, "b": "x"}}, ENV)
    assert caught.value.code == "T2002" and "right side of the + operator" in caught.value.reason
    with pytest.raises(ExpressionError) as call:
        evaluate("$sum(payload.a)", {"payload": {"a": ["x"]}}, ENV)
    assert (call.value.code, call.value.position) == ("T0412", 5)


def test_the_time_limit_holds_on_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    items = [{"price": n, "tags": ["x"]} for n in range(90_000)]
    source = "$sum($map(payload.items, function($i) { $i.price * 2 }))"
    assert compile_expression(source).fast is not None
    # The guard's clock counts calls (tests/work_meter.py), so "stopped in time" is a bound on work.
    with work_clock(monkeypatch, CALLS_PER_MS) as clock:
        with pytest.raises(ExpressionError) as caught:
            evaluate(source, {"payload": {"items": items}}, EvalEnv(now=ENV.now, timeout_ms=20))
        spent = clock.calls_since_start(clock.meter.calls)
    assert caught.value.code == "D1012" and "time limit of 20 ms" in caught.value.reason
    # Stopped from inside the loop, not after it: the whole map takes ~80 budgets of 20 ms.
    assert spent <= 1.1 * clock.budget(20), spent


@pytest.mark.parametrize(
    ("source", "payload"),
    [
        ("$count(payload.xs)", {"xs": [1, None, {"a": None}]}),
        ("$join(payload.xs, ',')", {"xs": ["a", None]}),
        ("payload.xs = payload.ys", {"xs": [None], "ys": [None]}),
        ("payload.xs[a = 1]", {"xs": [{"a": 1}, None]}),
        ("payload.xs.a", {"xs": [{"a": None}, {"a": 2}]}),
    ],
)
def test_json_null_reaching_the_library_is_left_to_the_interpreter(source: str, payload: dict[str, Any]) -> None:
    compiled = compile_expression(source)
    context = {"payload": payload}
    assert fast(compiled, context) is None
    expected = interpreted(compiled, context)
    outcome: tuple[str, str]
    try:
        outcome = ("value", exact(evaluate(source, context, ENV)))
    except ExpressionError as exc:
        outcome = ("error", exc.reason)
    assert outcome[0] == expected[0]
    if outcome[0] == "value":
        assert outcome == expected


def test_a_result_never_aliases_the_context() -> None:
    context = {"payload": {"a": {"b": [1, 2]}}}
    result = evaluate("payload.a", context, ENV)
    assert result == {"b": [1, 2]} and result is not context["payload"]["a"]
    result["b"].append(3)
    assert context["payload"]["a"]["b"] == [1, 2]
