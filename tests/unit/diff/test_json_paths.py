"""Pure JSON diff by path: added, removed, changed, and placeholders that hide secrets."""

from engine.diff.json_paths import PathSection, SecretKnowledge, diff_values, format_path
from engine.redaction import PLACEHOLDER

UNKNOWN = SecretKnowledge(known=False)
SAME = SecretKnowledge(known=True)


def rows(section: PathSection) -> list[tuple[str, str, object, object]]:
    return [(c.path, c.change, c.before, c.after) for c in section.changes]


def test_added_removed_and_changed_paths_in_document_order() -> None:
    before = {"a": 1, "b": {"c": [1, 2, 3], "d": "x"}, "gone": True}
    after = {"a": 1, "b": {"c": [1, 5], "d": "y"}, "new": None}
    assert rows(diff_values(before, after, root="input", secrets=UNKNOWN)) == [
        ("input.b.c[1]", "changed", 2, 5),
        ("input.b.c[2]", "removed", 3, None),
        ("input.b.d", "changed", "x", "y"),
        ("input.gone", "removed", True, None),
        ("input.new", "added", None, None),
    ]


def test_json_types_are_not_confused() -> None:
    section = diff_values({"n": 1, "f": 1, "b": 1}, {"n": 1.0, "f": True, "b": "1"}, root="$", secrets=UNKNOWN)
    assert [(c.path, c.change) for c in section.changes] == [("$.f", "changed"), ("$.b", "changed")]


def test_a_whole_value_replaced_by_another_type_is_one_change() -> None:
    section = diff_values({"x": {"deep": [1]}}, {"x": [1]}, root="$", secrets=UNKNOWN)
    assert rows(section) == [("$.x", "changed", {"deep": [1]}, [1])]


def test_keys_that_are_not_identifiers_are_quoted() -> None:
    assert format_path(("a b", 0, "c.d", "ok"), "input") == 'input["a b"][0]["c.d"].ok'
    section = diff_values({"we ird": 1}, {"we ird": 2}, root="input", secrets=UNKNOWN)
    assert section.changes[0].path == 'input["we ird"]'


def test_equal_placeholders_are_not_compared_when_nothing_is_known() -> None:
    section = diff_values({"password": PLACEHOLDER}, {"password": PLACEHOLDER}, root="input", secrets=UNKNOWN)
    [change] = section.changes
    assert (change.path, change.change, change.secret) == ("input.password", "not compared", True)
    assert change.before == change.after == PLACEHOLDER


def test_a_secret_known_to_differ_is_changed_and_shows_only_placeholders() -> None:
    knowledge = SecretKnowledge(known=True, changed=frozenset({"$.password"}))
    before = {"password": PLACEHOLDER, "customer": {"ssn": PLACEHOLDER}}
    after = {"password": PLACEHOLDER, "customer": {"ssn": PLACEHOLDER}}
    section = diff_values(before, after, root="input", secrets=knowledge, secret_paths_apply=True)
    assert rows(section) == [("input.password", "changed", PLACEHOLDER, PLACEHOLDER)]
    assert section.changes[0].secret


def test_known_same_secrets_compare_equal_everywhere() -> None:
    value = {"password": PLACEHOLDER, "note": f"pw is {PLACEHOLDER}"}
    assert diff_values(value, dict(value), root="input", secrets=SAME, secret_paths_apply=True).changes == []
    assert diff_values(value, dict(value), root="$", secrets=SAME).changes == []


def test_text_around_a_placeholder_outside_the_input_is_not_compared_when_a_secret_changed() -> None:
    knowledge = SecretKnowledge(known=True, changed=frozenset({"$.password"}))
    value = {"vars": {"note": f"pw is {PLACEHOLDER}", "plain": "x"}}
    section = diff_values(value, {"vars": {"note": f"pw is {PLACEHOLDER}", "plain": "x"}}, root="$", secrets=knowledge)
    assert [(c.path, c.change) for c in section.changes] == [("$.vars.note", "not compared")]


def test_a_secret_against_a_plain_value_is_changed_and_flagged_secret() -> None:
    section = diff_values({"token": PLACEHOLDER}, {"token": None}, root="input", secrets=UNKNOWN)
    assert rows(section) == [("input.token", "changed", PLACEHOLDER, None)]
    assert section.changes[0].secret


def test_changes_beyond_the_limit_are_counted_not_listed() -> None:
    section = diff_values(list(range(10)), list(range(10, 20)), root="$", secrets=UNKNOWN, limit=3)
    assert [c.path for c in section.changes] == ["$[0]", "$[1]", "$[2]"]
    assert section.omitted == 7
