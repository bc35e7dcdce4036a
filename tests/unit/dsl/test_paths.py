"""Step addresses and assignable ``vars.`` paths."""

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.dsl.models import Definition
from engine.dsl.paths import (
    PathError,
    child_path,
    get_path,
    is_identifier,
    iter_steps,
    parse_assign_path,
    set_path,
    step_index,
)


def ret(step_id: str) -> dict[str, Any]:
    return {"id": step_id, "type": "control.return"}


NESTED = Definition.model_validate(
    {
        "id": "wf", "version": 1, "name": "W",
        "steps": [
            {"id": "t", "type": "control.tryCatch", "try": [ret("t0"), ret("t1")], "catch": [ret("c0")]},
            {"id": "f", "type": "control.forEach", "items": [], "body": [
                {"id": "i", "type": "control.if", "condition": True, "then": [ret("i0")], "else": [ret("e0")]}]},
            ret("last"),
        ],
    }
)  # fmt: skip


def test_iter_steps_yields_every_step_depth_first_with_stable_paths() -> None:
    assert [(path, step.id) for path, step in iter_steps(NESTED)] == [
        ("root.steps[0]", "t"),
        ("root.steps[0].try[0]", "t0"),
        ("root.steps[0].try[1]", "t1"),
        ("root.steps[0].catch[0]", "c0"),
        ("root.steps[1]", "f"),
        ("root.steps[1].body[0]", "i"),
        ("root.steps[1].body[0].then[0]", "i0"),
        ("root.steps[1].body[0].else[0]", "e0"),
        ("root.steps[2]", "last"),
    ]


def test_step_index_resolves_paths() -> None:
    index = step_index(NESTED)
    assert index["root.steps[1].body[0].else[0]"].id == "e0"
    assert len(index) == 9


def test_child_path() -> None:
    assert child_path("root.steps[2]", "then", 0) == "root.steps[2].then[0]"
    assert child_path("root", "steps", 3) == "root.steps[3]"


@pytest.mark.parametrize(
    ("path", "segments"),
    [
        ("vars.a", ("a",)),
        ("vars.a.b", ("a", "b")),
        ("vars._x1.0.y", ("_x1", "0", "y")),
        ("vars.items.12", ("items", "12")),
    ],
)
def test_parse_assign_path(path: str, segments: tuple[str, ...]) -> None:
    assert parse_assign_path(path) == segments


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("lookup", "must start with 'vars.'"),
        ("vars", "must start with 'vars.'"),
        ("payload.a", "must start with 'vars.'"),
        ("vars.", "segment ''"),
        ("vars.a..b", "segment ''"),
        ("vars.a-b", "segment 'a-b'"),
        ("vars.1a", "segment '1a'"),
        ("vars.a[0]", "segment 'a[0]'"),
        ("vars.a.", "segment ''"),
    ],
)
def test_parse_assign_path_rejects(path: str, message: str) -> None:
    with pytest.raises(PathError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_assign_path(path)


def test_set_path_creates_objects_and_does_not_mutate() -> None:
    original = {"keep": {"x": 1}, "a": {"other": True}}
    snapshot = copy.deepcopy(original)
    result = set_path(original, "vars.a.b.c", 5)
    assert result == {"keep": {"x": 1}, "a": {"other": True, "b": {"c": 5}}}
    assert original == snapshot
    assert result["keep"] is original["keep"]  # untouched branches are shared, not copied


def test_set_path_replaces_none_and_indexes_lists() -> None:
    original = {"a": None, "items": [{"n": 1}, {"n": 2}]}
    result = set_path(set_path(original, "vars.a.b", 1), "vars.items.1.n", 20)
    assert result == {"a": {"b": 1}, "items": [{"n": 1}, {"n": 20}]}
    assert original["items"] == [{"n": 1}, {"n": 2}]


def test_digit_segments_are_keys_in_objects() -> None:
    assert set_path({}, "vars.a.0", "x") == {"a": {"0": "x"}}
    assert get_path({"a": {"0": "x"}}, "vars.a.0") == "x"


@pytest.mark.parametrize(
    ("variables", "path", "message"),
    [
        ({"a": 5}, "vars.a.b", "segment 'b' leads into a int"),
        ({"a": "text"}, "vars.a.b", "leads into a str"),
        ({"a": [1]}, "vars.a.b", "leads into a list"),
        ({"a": [1]}, "vars.a.1", "index 1 is past the end of a list of 1"),
    ],
)
def test_set_path_refuses_to_overwrite_scalars_or_grow_lists(
    variables: dict[str, Any], path: str, message: str
) -> None:
    with pytest.raises(PathError, match=message):
        set_path(variables, path, 1)


def test_get_path_default() -> None:
    variables = {"a": {"b": [10, 20]}}
    assert get_path(variables, "vars.a.b.1") == 20
    assert get_path(variables, "vars.a.c") is None
    assert get_path(variables, "vars.a.b.5", default="none") == "none"
    assert get_path(variables, "vars.a.b.1.x", default=0) == 0


@pytest.mark.parametrize(
    ("name", "expected"), [("err", True), ("_e2", True), ("2e", False), ("a.b", False), ("", False)]
)
def test_is_identifier(name: str, expected: bool) -> None:
    assert is_identifier(name) is expected


segments = st.lists(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,5}", fullmatch=True), min_size=1, max_size=4)
json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=5)
json_trees = st.recursive(
    json_scalars, lambda c: st.dictionaries(st.text(max_size=3), c, max_size=3) | st.lists(c, max_size=3), max_leaves=8
)


@given(variables=st.dictionaries(st.text(max_size=3), json_trees, max_size=4), parts=segments, value=json_trees)
def test_set_then_get_round_trips(variables: dict[str, Any], parts: list[str], value: Any) -> None:
    path = "vars." + ".".join(parts)
    snapshot = copy.deepcopy(variables)
    try:
        result = set_path(variables, path, value)
    except PathError:
        return  # the path runs into a scalar or list already there
    assert get_path(result, path) == value
    assert variables == snapshot
    untouched = {key: item for key, item in variables.items() if key != parts[0]}
    assert {key: item for key, item in result.items() if key != parts[0]} == untouched


@given(parts=segments, value=json_trees)
def test_set_on_empty_vars_always_succeeds(parts: list[str], value: Any) -> None:
    path = "vars." + ".".join(parts)
    assert get_path(set_path({}, path, value), path) == value
