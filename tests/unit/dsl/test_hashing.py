"""Canonical JSON and the definition hash."""

import hashlib
import json
import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.dsl.hashing import canonical_json, definition_hash

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(), c, max_size=4),
    max_leaves=25,
)


def reorder(value: Any, rng: random.Random) -> Any:
    """The same JSON with every object's keys in a shuffled insertion order."""
    if isinstance(value, dict):
        keys = list(value)
        rng.shuffle(keys)
        return {key: reorder(value[key], rng) for key in keys}
    if isinstance(value, list):
        return [reorder(item, rng) for item in value]
    return value


def test_canonical_form() -> None:
    assert canonical_json({"b": [1, {"d": 1, "c": None}], "a": "é"}) == '{"a":"é","b":[1,{"c":null,"d":1}]}'


def test_known_hash() -> None:
    assert definition_hash({"a": 1}) == hashlib.sha256(b'{"a":1}').hexdigest()


def test_non_ascii_is_hashed_as_utf8() -> None:
    assert definition_hash({"name": "Überweisung"}) == hashlib.sha256('{"name":"Überweisung"}'.encode()).hexdigest()


def test_int_and_float_differ() -> None:
    assert definition_hash({"v": 1}) != definition_hash({"v": 1.0})


def test_nan_is_rejected() -> None:
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        canonical_json({"v": float("nan")})


@given(value=st.dictionaries(st.text(), json_values, max_size=6), seed=st.integers())
def test_hash_does_not_depend_on_key_order(value: dict[str, Any], seed: int) -> None:
    assert definition_hash(reorder(value, random.Random(seed))) == definition_hash(value)


@given(value=json_values)
def test_canonical_json_round_trips(value: Any) -> None:
    text = canonical_json(value)
    assert json.loads(text) == value
    assert canonical_json(json.loads(text)) == text
