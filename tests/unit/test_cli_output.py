"""The CLI prints untrusted strings without letting terminal controls through; JSON always parses."""

import asyncio
import json
import sys
import unicodedata

import asyncpg
import pytest
import typer

from engine.errors import DOCTOR_HINT
from runstudio import cli
from runstudio.cli import run
from runstudio.output import cell_safe, json_text, print_json, print_table, terminal_safe

HOSTILE = "[bold]x\x1b[2J\x1b]52;c;SGVsbG8=\x07\x9bz\rEND\x7f"
EVERY_CONTROL = "".join(chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)])
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"


def _invisible_code_points() -> list[int]:
    """Every code point the terminal would act on or not show: Cc, Cf, Cs, Zl, Zp (this interpreter's tables)."""
    kinds = {"Cc", "Cf", "Cs", "Zl", "Zp"}
    return [c for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) in kinds]


def test_controls_become_visible_escapes_but_newline_and_tab_stay() -> None:
    assert terminal_safe(HOSTILE) == "[bold]x\\x1b[2J\\x1b]52;c;SGVsbG8=\\x07\\x9bz\\x0dEND\\x7f"
    assert terminal_safe("a\tb\nc") == "a\tb\nc"


def test_bidi_and_format_characters_are_named_in_text_and_cells() -> None:
    assert terminal_safe("invoice\u202efdp.exe") == "invoice⟨U+202E⟩fdp.exe"
    assert cell_safe("a\u200bb\ufeffc\u2028d") == "a⟨U+200B⟩b⟨U+FEFF⟩c⟨U+2028⟩d"
    assert cell_safe("lone\ud800") == "lone⟨U+D800⟩"


def test_every_invisible_code_point_is_made_visible_in_a_cell() -> None:
    leaked = [hex(c) for c in _invisible_code_points() if len(cell_safe(chr(c))) == 1]
    assert leaked == []


def test_readable_text_is_left_alone() -> None:
    text = "Ünïcødé 漢字 emoji 🚀 ok"
    assert terminal_safe(text) == text == cell_safe(text)
    assert json.loads(json_text({"name": text})) == {"name": text}
    assert text in json_text({"name": text})


def test_a_table_row_stays_one_line_whatever_a_cell_holds(capsys: pytest.CaptureFixture[str]) -> None:
    print_table(["ID", "NAME"], [["wf\nsplit\there", "x" + BIDI], ["next", EVERY_CONTROL]])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert lines[1].startswith("wf\\nsplit\\there  ")
    assert "⟨U+202E⟩" in lines[1] and "\u202e" not in lines[1]
    assert lines[2].startswith("next")
    assert "\\x1b" in lines[2] and "\\x9b" in lines[2] and "\\x7f" in lines[2]
    out = "\n".join(lines)
    assert not any(ch in out for ch in EVERY_CONTROL + BIDI if ch != "\n")


def test_table_columns_line_up_with_wide_characters(capsys: pytest.CaptureFixture[str]) -> None:
    print_table(["A", "B"], [["漢字", "x"], ["ab", "y"]])
    lines = capsys.readouterr().out.splitlines()
    # 漢字 takes four terminal cells, so both rows put B's column at the same place.
    assert lines[1] == "漢字  x" and lines[2] == "ab    y"


def test_tables_and_json_never_print_a_control(capsys: pytest.CaptureFixture[str]) -> None:
    print_table(["NAME"], [[HOSTILE]])
    print_json({"error": HOSTILE, "c1": "\x85\x9c"})
    out = capsys.readouterr().out
    assert "[bold]x" in out
    assert not any(ch in out for ch in ["\x1b", "\x07", "\r", "\x7f"] + [chr(c) for c in range(0x80, 0xA0)])


@pytest.mark.parametrize("code", [*range(0x20), *range(0x7F, 0xA0)])
def test_json_output_parses_back_for_every_control_character(code: int, capsys: pytest.CaptureFixture[str]) -> None:
    value = {"workflow_id": f"a{chr(code)}b", f"key{chr(code)}": [chr(code)]}
    print_json(value)
    out = capsys.readouterr().out
    assert json.loads(out) == value
    assert chr(code) not in out or chr(code) == "\n"  # newline only as the layout between lines


def test_json_escapes_invisibles_and_lone_surrogates_so_the_output_encodes() -> None:
    value = {"bidi": BIDI, "lone": "x\ud800y\udfff", "tag": "\U000e0041"}
    text = json_text(value)
    text.encode("utf-8")  # a raw lone surrogate would raise here
    assert json.loads(text) == value
    assert "\\u202e" in text and "\\ud800" in text and "\\udb40\\udc41" in text
    assert not any(ch in text for ch in BIDI)


def test_json_spells_non_finite_numbers_as_strings() -> None:
    text = json_text({"a": float("nan"), "b": [float("inf"), -float("inf")], "c": 1.5})
    assert json.loads(text) == {"a": "NaN", "b": ["Infinity", "-Infinity"], "c": 1.5}


def test_help_documents_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "Exit codes: 0 ok; 1 refused or failed" in text and "2 usage error" in text


@pytest.mark.parametrize(
    "argv",
    [["no-such-command"], ["runs", "--no-such-option"], ["show"], ["runs", "--status"], ["--tenant"]],
    ids=["unknown command", "unknown option", "missing argument", "option without value", "global option"],
)
def test_usage_errors_exit_2_without_touching_any_service(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert run(argv) == 2
    err = capsys.readouterr().err
    # One `error:` line naming the help, as every command's failures read (no boxed usage text).
    assert err.startswith("error: ") and err.count("\n") == 1 and "--help`" in err and "Traceback" not in err


def test_an_outage_that_escapes_a_command_is_still_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A driver error no service mapped (here a refused TCP connect from asyncpg) is told as the outage."""
    monkeypatch.setenv("RUNSTUDIO_DATABASE_URL", "postgresql://app:pw@127.0.0.1:1/db")
    monkeypatch.setenv("TEMPORAL_ADDRESS", "127.0.0.1:1")

    async def raw_connect() -> None:
        await asyncpg.connect("postgresql://app:pw@127.0.0.1:1/db")

    def command() -> None:
        asyncio.run(raw_connect())

    probe = typer.Typer()
    probe.command()(command)
    monkeypatch.setattr(cli, "app", probe)
    assert cli.run([]) == 1
    err = capsys.readouterr().err
    assert err == f"error: Postgres at 127.0.0.1:1 is unreachable: connection refused. {DOCTOR_HINT}\n"
