"""``safe_text``: untrusted strings become inert text, whatever control characters or markup they carry."""

import pytest
from rich.console import Console
from rich.text import Text

from studio_tui.sanitize import REPLACEMENT, safe_text
from studio_tui.widgets.json_view import json_text


def rendered(text: Text) -> str:
    """What a terminal would receive for ``text`` (styles included)."""
    console = Console(force_terminal=True, color_system="truecolor", width=200, record=False)
    with console.capture() as capture:
        console.print(text, end="")
    return capture.get()


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b[2J", "␛[2J"),
        ("\x1b]52;c;SGVsbG8=\x07", "␛]52;c;SGVsbG8=␇"),
        ("\x1b]0;title\x1b\\", "␛]0;title␛\\"),
        ("a\rb", "a␍b"),
        ("\x00\x01\x08\x0b\x0c\x1f", "␀␁␈␋␌␟"),
        ("del\x7f", "del␡"),
        ("csi\x9b31m", f"csi{REPLACEMENT}31m"),
        ("c1\x80\x85\x9f", f"c1{REPLACEMENT * 3}"),
        ("id\u202egnp.exe", f"id{REPLACEMENT}gnp.exe"),
        ("\u2066isolate\u2069", f"{REPLACEMENT}isolate{REPLACEMENT}"),
    ],
)
def test_control_characters_become_visible_stand_ins(raw: str, shown: str) -> None:
    assert safe_text(raw).plain == shown


def test_newline_and_tab_survive_in_multi_line_text_only() -> None:
    assert safe_text("a\nb\tc").plain == "a\nb\tc"
    assert safe_text("a\nb\tc", single_line=True).plain == "a␊b␉c"


def test_printable_unicode_is_untouched() -> None:
    assert safe_text("café ✓ 数据 [x]").plain == "café ✓ 数据 [x]"


@pytest.mark.parametrize("markup", ["[bold]loud[/bold]", "[@click=app.quit]quit[/]", "[link=https://x.test]x[/link]"])
def test_markup_is_shown_literally_with_no_style_or_action(markup: str) -> None:
    text = safe_text(markup)
    assert text.plain == markup
    assert text.spans == []
    assert "@click" not in str(text.style)


def test_nothing_a_terminal_acts_on_survives_rendering() -> None:
    hostile = "[bold]x[/bold] \x1b[2J \x1b]52;c;SGVsbG8=\x07 \x9b31m \x7f \r"
    output = rendered(safe_text(hostile))
    # The only ESC bytes left are Rich's own SGR style codes (none here: the text has no style).
    assert "\x1b" not in output
    assert not any(0x80 <= ord(ch) <= 0x9F for ch in output)
    assert "[bold]x[/bold]" in output


def test_non_strings_are_shown_as_json() -> None:
    assert safe_text({"k": "\x1b"}).plain == '{"k": "\\u001b"}'
    assert safe_text(None).plain == ""
    assert safe_text(42).plain == "42"


def test_json_view_text_escapes_c0_and_replaces_c1() -> None:
    text = json_text({"a": "\x1b[2J\x9b\x7f"})
    assert "\\u001b[2J" in text.plain
    assert "\x9b" not in text.plain and "\x7f" not in text.plain
    assert f"{REPLACEMENT}␡" in text.plain
