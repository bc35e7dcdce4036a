"""Small pure pieces of the studio: time and duration text, bars, search parsing, health, palette filtering."""

from datetime import timedelta

import pytest

from engine.services.doctor import Check
from studio_tui.commands import COMMANDS, StudioCommand, available
from studio_tui.format import ago, duration, status_glyph
from studio_tui.health import health_from_checks
from studio_tui.screens.runs import parse_search
from studio_tui.widgets.timeline import duration_bar, error_line
from tests.tui.seed import NOW


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.2, "just now"),
        (42, "42s ago"),
        (12 * 60, "12m ago"),
        (5 * 3600, "5h ago"),
        (3 * 86400, "3d ago"),
        (-90, "in 1m"),
    ],
)
def test_ago(seconds: float, text: str) -> None:
    assert ago(NOW - timedelta(seconds=seconds), NOW) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "–"),
        (450, "450ms"),
        (12_345, "12.3s"),
        (245_000, "4m05s"),
        (3_720_000, "1h02m"),
        (3 * 86_400_000 + 4 * 3_600_000, "3d04h"),
    ],
)
def test_duration_fits_six_cells(value: int | None, text: str) -> None:
    assert duration(value) == text
    assert len(text) <= 6


def test_duration_bar_is_proportional_and_never_empty_for_time_spent() -> None:
    assert duration_bar(1000, 1000, 10) == "█" * 10
    assert duration_bar(500, 1000, 10) == "█" * 5
    assert duration_bar(1, 1000, 10) == "▏"
    assert duration_bar(0, 1000, 10) == ""
    assert duration_bar(5, 0, 10) == ""


def test_every_run_status_has_its_own_glyph() -> None:
    glyphs = {status_glyph(s) for s in ("RUNNING", "WAITING", "SUCCEEDED", "FAILED", "CANCELED")}
    assert len(glyphs) == 5
    assert status_glyph("SOMETHING_NEW") == "?"


def test_error_line() -> None:
    assert error_line({"category": "ActionError", "message": "no"}) == "ActionError: no"
    assert error_line({"message": "only a message"}) == "only a message"
    assert error_line(None) is None


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("", (None, None)),
        ("  ", (None, None)),
        ("3F2A", (None, "3f2a")),
        ("3f2a9c1e-6a7e", (None, "3f2a9c1e-6a7e")),
        ("echo-chain", ("echo-chain", None)),
        ("wf:cafe", ("cafe", None)),
        ("wf:", (None, None)),
    ],
)
def test_search_text_is_a_run_id_prefix_or_a_workflow_id(text: str, parsed: tuple[str | None, str | None]) -> None:
    assert parse_search(text) == parsed


def test_health_from_doctor_checks() -> None:
    healthy = health_from_checks(
        [
            Check("database", True, "reachable"),
            Check("migrations", True, "current"),
            Check("temporal", True, "127.0.0.1:7233 namespace default"),
            Check("workers", True, "2 polling workflow-runtime-v2"),
            Check("stuck runs", True, "none"),
        ]
    )
    assert (healthy.database, healthy.temporal, healthy.workers, healthy.stuck) == (True, True, 2, 0)
    down = health_from_checks(
        [
            Check("database", True, "reachable"),
            Check("temporal", False, "cannot reach Temporal"),
            Check("workers", False, "Temporal unreachable"),
            Check("stuck runs", False, "3 run(s) RUNNING with no step for over 60 s"),
        ]
    )
    assert (down.database, down.temporal, down.workers, down.stuck) == (True, False, None, 3)
    idle = health_from_checks(
        [Check("temporal", True, "up"), Check("workers", False, "no worker polls task queue workflow-runtime-v2")]
    )
    assert idle.workers == 0


def test_read_only_hides_mutating_palette_commands() -> None:
    cancel = StudioCommand("Cancel run", "Ask Temporal to cancel", "cancel_run", mutating=True)
    commands = (*COMMANDS, cancel)
    assert cancel in available(False, commands)
    assert cancel not in available(True, commands)
    offered_read_only = {c.action for c in available(True)}
    assert "bulk_cancel" in {c.action for c in available(False)}
    assert "bulk_cancel" not in offered_read_only
    assert "open_inbox" in offered_read_only
