"""The inbound boundary (engine.inbound): each rule, its message and path, and properties over any input."""

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.dsl.models import Definition
from engine.dsl.validate import DefinitionInvalid, validate_definition
from engine.errors import RunStudioError
from engine.inbound import (
    MAX_DEPTH,
    MAX_SAFE_INTEGER,
    MAX_VERSION,
    NAME_CHARSET,
    InboundRejected,
    check_actor,
    check_json,
    check_lookup,
    check_name,
    check_text,
    check_version,
    format_path,
)
from engine.services.payloads import PayloadRejected, parse_json_text, parse_payload_text

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def nested(depth: int) -> Any:
    """``depth`` arrays inside each other (``[[[...]]]``), built without recursion."""
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


def rejection(call: Any) -> InboundRejected:
    with pytest.raises(InboundRejected) as caught:
        call()
    return caught.value


def refusal_of(call: Any) -> InboundRejected | None:
    """The refusal ``call`` raised, or None if it passed (any other exception propagates)."""
    try:
        call()
    except InboundRejected as exc:
        return exc
    return None


# -- check_json -----------------------------------------------------------------------------------


def test_message_names_what_path_and_rule() -> None:
    exc = rejection(lambda: check_json({"a": {"b": [1, 2, "x\x00y"]}}, what="payload"))
    assert (exc.what, exc.path, exc.code) == ("payload", "$.a.b[2]", "nul")
    assert str(exc) == f"payload refused at $.a.b[2]: {exc.rule}"
    assert "NUL" in exc.rule
    assert isinstance(exc, RunStudioError)


@pytest.mark.parametrize(
    ("value", "path", "code", "fragment"),
    [
        ({"k": "\ud800"}, "$.k", "surrogate", "lone surrogate (\\ud800)"),
        ({"\udfff": 1}, '$["\\udfff"]', "surrogate", "object key contains a lone surrogate"),
        ({"k\x00": 1}, '$["k\\u0000"]', "nul", "object key contains NUL"),
        ({"n": [math.nan]}, "$.n[0]", "non_finite", "NaN is not a JSON number"),
        ({"n": math.inf}, "$.n", "non_finite", "Infinity is not a JSON number"),
        ([-math.inf], "$[0]", "non_finite", "-Infinity is not a JSON number"),
        ({"big": MAX_SAFE_INTEGER + 1}, "$.big", "int_range", "outside ±(2^53 - 1)"),
        pytest.param({"big": -(10**5000)}, "$.big", "int_range", "-bit integer", id="huge-negative"),
        ({1: "x"}, "$", "key_type", "object key 1 is not a string"),
        ({"a-b": {1, 2}}, '$["a-b"]', "type", "a set is not a JSON value"),
        ({"t": (1, 2)}, "$.t", "type", "a tuple is not a JSON value"),
        ({"b": b"bytes"}, "$.b", "type", "a bytes is not a JSON value"),
    ],
)
def test_each_json_rule(value: Any, path: str, code: str, fragment: str) -> None:
    exc = rejection(lambda: check_json(value, what="payload"))
    assert (exc.path, exc.code) == (path, code)
    assert fragment in exc.rule


def test_depth_limit_is_exact() -> None:
    check_json(nested(MAX_DEPTH), what="payload")
    exc = rejection(lambda: check_json(nested(MAX_DEPTH + 1), what="payload"))
    assert exc.code == "depth" and f"deeper than {MAX_DEPTH}" in exc.rule
    assert exc.path == "$" + "[0]" * MAX_DEPTH


def test_very_deep_and_cyclic_values_are_refused_without_recursion_error() -> None:
    assert rejection(lambda: check_json(nested(100_000), what="payload")).code == "depth"
    cycle: dict[str, Any] = {}
    cycle["self"] = cycle
    assert rejection(lambda: check_json(cycle, what="payload")).code == "depth"


def test_long_hostile_paths_are_shortened_and_ascii() -> None:
    value: Any = "\x00"
    for _ in range(MAX_DEPTH - 1):
        value = {"\u202e" * 500: value}
    exc = rejection(lambda: check_json(value, what="payload"))
    assert exc.code == "nul"
    assert len(exc.path) <= 403 and exc.path.isascii()


def test_legal_json_passes_and_booleans_are_not_integers() -> None:
    check_json(
        {"s": "é ✓ 😀 \n\t", "i": MAX_SAFE_INTEGER, "f": -1.5e300, "b": True, "n": None, "l": [{}, []]},
        what="payload",
    )


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.json")))
def test_every_example_definition_passes(name: str) -> None:
    check_json(json.loads((EXAMPLES / name).read_text()), what="definition")


json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
json_like = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=30,
)


@given(json_like)
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_accepted_values_round_trip_through_strict_json(value: Any) -> None:
    """Whatever passes is storable: strict JSON, UTF-8 encodable, free of NUL; whatever fails says why."""
    refusal = refusal_of(lambda: check_json(value, what="payload"))
    if refusal is not None:
        assert refusal.rule and refusal.path.startswith("$") and str(refusal).startswith("payload refused at $")
        return
    text = json.dumps(value, allow_nan=False, ensure_ascii=False)
    text.encode("utf-8")
    assert "\\u0000" not in text


@given(st.from_type(object))
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_any_python_object_is_accepted_or_refused_never_crashes(value: object) -> None:
    refusal = refusal_of(lambda: check_json(value, what="payload"))
    assert refusal is None or str(refusal)


# -- check_name -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "order.paid", "refund-review", "v1:x/y@z_w", "9lives", "A" * 200])
def test_names_in_the_charset_pass(name: str) -> None:
    assert check_name(name, kind="workflow id") == name


@pytest.mark.parametrize(
    ("value", "code", "fragment"),
    [
        ({"id": 1}, "type", "must be a string, got a dict"),
        (None, "type", "got null"),
        (7, "type", "got a int"),
        ("", "empty", "must not be empty"),
        ("a" * 201, "length", "201 characters long; the limit is 200"),
        ("a\nb", "control", "control character U+000A at position 1"),
        ("a\x9bb", "control", "U+009B"),
        ("ab\u202e", "bidi", "bidi control U+202E at position 2"),
        ("a\x00", "nul", "NUL"),
        ("a\ud800", "surrogate", "lone surrogate"),
        ("a b", "charset", "' ' at position 1"),
        (".a", "charset", "'.' at position 0"),
        ("café", "charset", "'\\xe9' at position 3"),
        ("a\u200bb", "charset", "'\\u200b'"),
    ],
)
def test_names_outside_the_rules_are_refused(value: object, code: str, fragment: str) -> None:
    exc = rejection(lambda: check_name(value, kind="workflow id"))
    assert exc.code == code and fragment in exc.rule, exc.rule
    assert str(exc).startswith("workflow id refused at $: ")


def test_name_path_and_custom_length() -> None:
    exc = rejection(lambda: check_name("abcdef", kind="step id", max_length=5, path="$.steps[0].id"))
    assert str(exc) == "step id refused at $.steps[0].id: is 6 characters long; the limit is 5"


@given(st.text(max_size=250))
@settings(max_examples=300)
def test_accepted_names_are_plain_ascii(name: str) -> None:
    refusal = refusal_of(lambda: check_name(name, kind="event name"))
    if refusal is not None:
        assert refusal.rule
        return
    assert name.isascii() and name.isprintable() and " " not in name and 1 <= len(name) <= 200


# -- check_text, check_version, check_actor ---------------------------------------------------------


def test_text_allows_newlines_only_when_multiline() -> None:
    assert check_text("a\n\tb", what="rule", max_length=10, multiline=True) == "a\n\tb"
    assert rejection(lambda: check_text("a\nb", what="title", max_length=10)).code == "control"
    assert rejection(lambda: check_text("a\rb", what="rule", max_length=10, multiline=True)).code == "control"
    assert check_text("", what="note", max_length=10) == ""
    assert check_text("Grüße ✓", what="note", max_length=10) == "Grüße ✓"


@pytest.mark.parametrize(
    ("value", "code"),
    [("x" * 11, "length"), ("\u2066x", "bidi"), ("\x7f", "control"), (b"x", "type"), ("\udc80", "surrogate")],
)
def test_text_rules(value: object, code: str) -> None:
    exc = rejection(lambda: check_text(value, what="event id", max_length=10))
    assert exc.code == code and str(exc).startswith("event id refused at $: ")


@pytest.mark.parametrize("good", [1, 2, MAX_VERSION])
def test_versions_in_range(good: int) -> None:
    assert check_version(good) == good


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (0, "0 is outside 1..2147483647"),
        (MAX_VERSION + 1, "2147483648 is outside"),
        pytest.param(10**5000, "-bit integer) is outside", id="huge"),
        (True, "got a bool"),
        ("1", "got a str"),
        (1.0, "got a float"),
    ],
)
def test_versions_out_of_range(value: object, fragment: str) -> None:
    exc = rejection(lambda: check_version(value))
    assert fragment in exc.rule and str(exc).startswith("version refused at $: ")


def test_actor() -> None:
    check_actor("ana", "ssh:10.0.0.1")
    check_actor("ana", None)
    assert rejection(lambda: check_actor("ana\u202e", "local")).what == "actor"
    assert rejection(lambda: check_actor("ana", "x" * 201)).what == "actor source"


def test_format_path() -> None:
    assert format_path(()) == "$"
    assert format_path(("a", "b", 3, "c d", "")) == '$.a.b[3]["c d"][""]'


def test_lookups_refuse_only_what_postgres_cannot_compare() -> None:
    # Rows stored before the name rules may hold spaces, controls or bidi characters: still findable.
    assert check_lookup("old id\n\u202e", what="workflow id filter") == "old id\n\u202e"
    assert rejection(lambda: check_lookup("a\x00", what="event id")).code == "nul"
    assert rejection(lambda: check_lookup("\ud800", what="event id")).code == "surrogate"
    assert rejection(lambda: check_lookup({"a": 1}, what="event id")).code == "type"
    exc = rejection(lambda: check_lookup("x" * 1001, what="event id"))
    assert str(exc) == "event id refused at $: is 1001 characters long; the limit is 1000"


def test_name_rules_apply_at_publish_but_stored_definitions_still_load() -> None:
    """The workflow parses pinned definitions with the models: one published before the rules must load."""
    legacy = json.loads((EXAMPLES / "echo_chain.json").read_text())
    legacy["id"] = "echo chain"
    legacy["steps"][0]["id"] = "greet\u202e"
    assert Definition.model_validate(legacy).steps[0].id == "greet\u202e"
    with pytest.raises(DefinitionInvalid) as caught:
        validate_definition(legacy, action_exists=lambda _a, _v: True, workflow_exists=lambda _w, _v: True)
    assert [str(p) for p in caught.value.problems] == [
        f"$.id: 'echo chain' has ' ' at position 4; use {NAME_CHARSET}",
        "$.steps[0].id: contains the bidi control U+202E at position 5, which would display the text reordered",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a": NaN}', "payload is not usable JSON: NaN is not a JSON number (only finite numbers are)"),
        ("[-Infinity]", "payload is not usable JSON: -Infinity is not a JSON number (only finite numbers are)"),
        ("[" * 100_000 + "]" * 100_000, "payload is nested too deeply to read; the limit is 64 levels"),
        ("1" * 5000, "payload is not usable JSON: Exceeds the limit (4300 digits)"),
        ('{"a": "\\u0000"}', "payload refused at $.a: the string contains NUL (\\u0000), which cannot be stored"),
        ('{"a": "\\udc00"}', "payload refused at $.a: the string contains a lone surrogate (\\udc00)"),
        ("[1, 2]", "payload must be a JSON object, got list"),
        ("{", "payload is not valid JSON: Expecting property name enclosed in double quotes at line 1 column 2"),
    ],
)
def test_cli_json_text_is_parsed_within_the_rules(text: str, message: str) -> None:
    with pytest.raises(PayloadRejected) as caught:
        parse_payload_text(text)
    assert str(caught.value).startswith(message)
    assert parse_json_text("[1.5, null]", what="value") == [1.5, None]
