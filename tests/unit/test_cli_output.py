"""The CLI prints untrusted strings without letting terminal controls through."""

import pytest

from runstudio.output import print_json, print_table, terminal_safe

HOSTILE = "[bold]x\x1b[2J\x1b]52;c;SGVsbG8=\x07\x9bz\rEND\x7f"


def test_controls_become_visible_escapes_but_newline_and_tab_stay() -> None:
    assert terminal_safe(HOSTILE) == "[bold]x\\x1b[2J\\x1b]52;c;SGVsbG8=\\x07\\x9bz\\x0dEND\\x7f"
    assert terminal_safe("a\tb\nc") == "a\tb\nc"


def test_tables_and_json_never_print_a_control(capsys: pytest.CaptureFixture[str]) -> None:
    print_table(["NAME"], [[HOSTILE]])
    print_json({"error": HOSTILE, "c1": "\x85\x9c"})
    out = capsys.readouterr().out
    assert "[bold]x" in out
    assert not any(ch in out for ch in ["\x1b", "\x07", "\r", "\x7f"] + [chr(c) for c in range(0x80, 0xA0)])
