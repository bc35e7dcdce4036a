"""The one redaction function: configured paths, sensitive key names, copied secrets, replay restoration."""

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from engine.redaction import PLACEHOLDER, Redactor, is_sensitive_key, redact, redacted_paths, restore_placeholders

PAYLOAD: dict[str, Any] = {
    "user": "ana",
    "password": "hunter2-secret",
    "customer": {"ssn": "123-45-6789", "name": "ACME", "cards": [{"pan": "4111111111111111"}, {"pan": "5500"}]},
    "headers": {"Authorization": "Bearer abc.def", "X-Api-Key": "k-123456", "accept": "json"},
}


def test_sensitive_key_names_are_recognised_regardless_of_case_and_separators() -> None:
    for key in (
        "password",
        "Password",
        "db_password",
        "passwd",
        "secret",
        "clientSecret",
        "token",
        "access_token",
        "apiKey",
        "api_key",
        "X-Api-Key",
        "authorization",
        "credentials",
        "private_key",
        "cookie",
    ):
        assert is_sensitive_key(key), key
    for key in ("user", "name", "passage", "accept", "description"):
        assert not is_sensitive_key(key), key


def test_configured_paths_and_sensitive_keys_are_replaced() -> None:
    out = redact(PAYLOAD, ["customer.ssn", "payload.customer.cards[*].pan"])
    assert out == {
        "user": "ana",
        "password": PLACEHOLDER,
        "customer": {"ssn": PLACEHOLDER, "name": "ACME", "cards": [{"pan": PLACEHOLDER}, {"pan": PLACEHOLDER}]},
        "headers": {"Authorization": PLACEHOLDER, "X-Api-Key": PLACEHOLDER, "accept": "json"},
    }
    assert PAYLOAD["password"] == "hunter2-secret"  # the input is not modified


def test_index_paths_hit_only_that_item() -> None:
    out = redact(PAYLOAD, ["customer.cards[0].pan"])
    assert out["customer"]["cards"] == [{"pan": PLACEHOLDER}, {"pan": "5500"}]


def test_redactor_masks_secrets_copied_elsewhere() -> None:
    redactor = Redactor.for_input(PAYLOAD, ["customer.ssn"])
    derived = {"note": "ssn is 123-45-6789", "copy": "hunter2-secret", "len": 14, "user": "ana"}
    assert redactor.value(derived) == {
        "note": f"ssn is {PLACEHOLDER}",
        "copy": PLACEHOLDER,
        "len": 14,
        "user": "ana",
    }
    assert redactor.value("Bearer abc.def failed") == f"{PLACEHOLDER} failed"


def test_short_secrets_are_not_masked_everywhere() -> None:
    # A 3-character secret would blank out every occurrence of common text; it stays hidden at its path only.
    redactor = Redactor.for_input({"pin": "123", "password": "abc"}, ["pin"])
    assert redactor.input({"pin": "123", "password": "abc"}) == {"pin": PLACEHOLDER, "password": PLACEHOLDER}
    assert redactor.value({"n": "a123b"}) == {"n": "a123b"}


def test_restore_puts_secrets_back_behind_unchanged_placeholders() -> None:
    paths = ["customer.ssn"]
    edited = redact(PAYLOAD, paths)
    edited["user"] = "bob"
    restored, problems = restore_placeholders(edited, PAYLOAD, paths)
    assert problems == []
    assert restored == {**PAYLOAD, "user": "bob"}


def test_restore_keeps_a_changed_secret_and_refuses_a_stray_placeholder() -> None:
    edited = redact(PAYLOAD, [])
    edited["password"] = "new-password"
    edited["user"] = PLACEHOLDER
    restored, problems = restore_placeholders(edited, PAYLOAD, [])
    assert restored["password"] == "new-password"
    assert problems == [
        "$.user holds the redaction placeholder, but the original input has no secret there; replace it with a "
        "real value"
    ]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_unedited_redacted_view_always_restores_to_the_original(payload: Any) -> None:
    restored, problems = restore_placeholders(redact(payload), payload, [])
    if PLACEHOLDER in str(payload):
        return  # a payload that already contains the placeholder text is ambiguous by construction
    assert problems == []
    assert restored == payload


@given(json_values)
def test_no_value_under_a_sensitive_key_survives(payload: Any) -> None:
    wrapped = {"token": payload, "nested": [{"secret": payload}]}
    out = redact(wrapped)
    assert out == {"token": PLACEHOLDER, "nested": [{"secret": PLACEHOLDER}]}
    assert redacted_paths(wrapped) == {("token",), ("nested", 0, "secret")}
