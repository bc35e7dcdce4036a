"""The static side of the replay preview: what a key reads, and which vars are known before a step."""

from typing import Any

import pytest

from engine.dsl import models as m
from engine.services.preview_keys import (
    KeyUnknowable,
    KnownVars,
    evaluate_known,
    known_vars_before,
    locals_at,
    reads_of,
)

META = {"run_id": "r-new", "workflow_id": "w", "workflow_version": 1, "tenant": "t", "attempt": 1}


def expr(source: str) -> dict[str, str]:
    return {"$expr": source}


@pytest.mark.parametrize(
    ("source", "roots", "var_names"),
    [
        ("payload.order.id", {"payload"}, frozenset()),
        ("$payload.id & '-' & vars.key.part", {"payload", "vars"}, frozenset({"key"})),
        ("$lookup($vars, payload.k)", {"payload", "vars"}, None),
        ("vars.*.x", {"vars"}, None),
        ("meta.run_id & item.sku", {"meta", "item"}, frozenset()),
    ],
)
def test_reads(source: str, roots: set[str], var_names: frozenset[str] | None) -> None:
    reads = reads_of(expr(source))
    assert roots <= reads.roots
    assert reads.var_names == var_names
    assert not (reads.clock or reads.random or reads.whole_context)


@pytest.mark.parametrize("source", ["$now()", "'k-' & $string($millis())", "nowIso()"])
def test_the_clock_is_seen(source: str) -> None:
    assert reads_of(expr(source)).clock


def test_dollar_context_is_whole_context() -> None:
    assert reads_of(expr("payload.items[$.x > 1].id")).whole_context
    assert reads_of(expr("$$.payload.id")).whole_context


def test_expressions_nested_in_a_literal_key_are_read() -> None:
    assert reads_of({"a": [expr("vars.b")]}).var_names == frozenset({"b"})


def definition(*steps: dict[str, Any]) -> m.Definition:
    return m.Definition.model_validate({"id": "d", "version": 1, "name": "d", "steps": list(steps)})


def call(step_id: str, key: Any = None, **extra: Any) -> dict[str, Any]:
    body = {"id": step_id, "type": "action.call", "action": "core.echo", "version": 1, "idempotencyKey": key}
    return body | extra


def test_top_level_assignments_are_replayed_in_order() -> None:
    d = definition(
        {"id": "a", "type": "state.assign", "assign": {"vars.k": expr("'x-' & payload.id")}},
        {"id": "b", "type": "state.assign", "assign": {"vars.k2": expr("vars.k & '!'")}},
        call("c", expr("vars.k2")),
    )
    known = known_vars_before(d, "root.steps[2]", payload={"id": 7}, meta=META, in_loop=False)
    assert known.values == {"k": "x-7", "k2": "x-7!"}
    assert known.unknown == {}


def test_vars_from_outputs_branches_and_the_clock_are_unknown() -> None:
    d = definition(
        call("fetch", saveAs="vars.out"),
        {"id": "t", "type": "state.assign", "assign": {"vars.when": expr("$now()"), "vars.o": expr("vars.out.x")}},
        {"id": "if", "type": "control.if", "condition": True,
         "then": [{"id": "n", "type": "state.assign", "assign": {"vars.branch": 1}}]},
        call("target", expr("vars.out")),
    )  # fmt: skip
    known = known_vars_before(d, "root.steps[3]", payload={}, meta=META, in_loop=False)
    assert set(known.unknown) == {"out", "when", "o", "branch"}
    assert known.unknown["out"] == "set from the output of core.echo v1 at root.steps[0]"
    assert "reads the clock" in known.unknown["when"]
    assert "inside a branch or loop" in known.unknown["branch"]
    with pytest.raises(KeyUnknowable, match=r"reads vars\.out, set from the output"):
        evaluate_known(expr("vars.out"), known, payload={}, meta=META, locals_bound=frozenset())


def test_a_calls_own_save_as_counts_only_inside_a_loop() -> None:
    d = definition(
        {
            "id": "loop",
            "type": "control.forEach",
            "items": [1, 2],
            "body": [call("c", expr("vars.prev"), saveAs="vars.prev")],
        }
    )
    names, in_loop = locals_at(d, "root.steps[0].body[0]")
    assert in_loop and {"item", "index", "isLast"} <= names
    looped = known_vars_before(d, "root.steps[0].body[0]", payload={}, meta=META, in_loop=True)
    assert "prev" in looped.unknown
    flat = definition(call("c", expr("vars.prev"), saveAs="vars.prev"))
    assert known_vars_before(flat, "root.steps[0]", payload={}, meta=META, in_loop=False).unknown == {}


def test_catch_binds_error() -> None:
    d = definition({"id": "t", "type": "control.tryCatch", "try": [call("a")], "catch": [call("b")]})
    assert locals_at(d, "root.steps[0].catch[0]") == (frozenset({"error"}), False)
    assert locals_at(d, "root.steps[0].try[0]") == (frozenset(), False)


def test_known_keys_evaluate_with_the_replays_meta() -> None:
    value = evaluate_known(
        expr("meta.workflow_id & '-' & payload.id & '-' & vars.k"),
        KnownVars(values={"k": "v"}),
        payload={"id": 3},
        meta=META,
        locals_bound=frozenset(),
    )
    assert value == "w-3-v"
    with pytest.raises(KeyUnknowable, match="reads item"):
        evaluate_known(expr("item.sku"), KnownVars(), payload={}, meta=META, locals_bound=frozenset({"item"}))
