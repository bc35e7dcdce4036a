"""Which secrets an edited replay payload replaced: paths only, placeholders kept mean the same secret."""

from engine.diff.secrets import replaced_secret_paths
from engine.redaction import PLACEHOLDER

ORIGINAL = {"user": "ann", "password": "hunter22", "customer": {"ssn": "123-45-6789", "name": "Ann"}}
REDACT = ["customer.ssn"]


def test_a_placeholder_left_in_place_keeps_its_secret() -> None:
    edited = {"user": "bob", "password": PLACEHOLDER, "customer": {"ssn": PLACEHOLDER, "name": "Bob"}}
    assert replaced_secret_paths(edited, ORIGINAL, REDACT) == []


def test_a_secret_typed_over_the_placeholder_is_listed_by_path_without_its_value() -> None:
    edited = {"user": "ann", "password": "new-secret", "customer": {"ssn": PLACEHOLDER}}
    replaced = replaced_secret_paths(edited, ORIGINAL, REDACT)
    assert replaced == ["$.password"]
    assert "new-secret" not in repr(replaced)


def test_removed_secrets_are_not_listed_and_nested_ones_are() -> None:
    edited = {"user": "ann", "customer": {"ssn": "999-99-9999"}}
    assert replaced_secret_paths(edited, ORIGINAL, REDACT) == ["$.customer.ssn"]
    assert replaced_secret_paths({"customer": "flat"}, ORIGINAL, REDACT) == []
