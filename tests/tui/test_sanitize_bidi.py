"""The studio hides every bidi control and line separator, not only the overrides and isolates."""

import pytest

from studio_tui.sanitize import REPLACEMENT, safe_text


@pytest.mark.parametrize("char", ["\u061c", "\u200e", "\u200f", "\u202e", "\u2066", "\u2069", "\u2028", "\u2029"])
def test_bidi_marks_and_separators_become_the_replacement_character(char: str) -> None:
    assert safe_text(f"id{char}x").plain == f"id{REPLACEMENT}x"
    assert safe_text(f"id{char}x", single_line=True).plain == f"id{REPLACEMENT}x"
