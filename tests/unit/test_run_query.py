"""The runs list's ``:`` commands and filter values, as typed by an operator (pure: no database)."""

from datetime import UTC, datetime, timedelta

import pytest

from engine.services.run_filters import first_line, parse_duration, parse_since, parse_time
from studio_tui.run_query import CommandError, RunQuery, apply_command, describe

NOW = datetime(2025, 6, 2, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("status failed", RunQuery(status="FAILED")),
        ("status all", RunQuery()),
        ("since 1h", RunQuery(since=timedelta(hours=1))),
        ("since 7d", RunQuery(since=timedelta(days=7))),
        ("since 2025-06-01T08:00", RunQuery(since=datetime(2025, 6, 1, 8, tzinfo=UTC))),
        ("until 2025-06-02", RunQuery(until=datetime(2025, 6, 2, tzinfo=UTC))),
        ("wf Echo", RunQuery(workflow_prefix="Echo")),
        ("stuck", RunQuery(stuck=True)),
        ("trigger Schedule", RunQuery(trigger="schedule")),
        ("sort duration", RunQuery(sort="duration")),
        ("  ", RunQuery()),
    ],
)
def test_each_command_sets_its_filter(command: str, expected: RunQuery) -> None:
    assert apply_command(RunQuery(), command) == expected


def test_commands_compose_and_clear_resets_them() -> None:
    query = RunQuery()
    for command in ("status waiting", "since 15m", "stuck", "sort status"):
        query = apply_command(query, command)
    assert query == RunQuery(status="WAITING", since=timedelta(minutes=15), stuck=True, sort="status")
    assert describe(query) == ["since 15m", "stuck", "sort status"]
    assert apply_command(apply_command(query, "stuck off"), "clear") == RunQuery()


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("status done", "unknown status 'done'"),
        ("since soon", "not an ISO time"),
        ("since 0m", "not a duration"),
        ("trigger cron", "unknown trigger 'cron'"),
        ("sort name", "unknown sort 'name'"),
        ("stuck maybe", "stuck takes nothing, or off"),
        ("frob", "unknown command 'frob'"),
    ],
)
def test_a_command_that_cannot_apply_says_why(command: str, message: str) -> None:
    with pytest.raises(CommandError, match=message):
        apply_command(RunQuery(), command)


def test_filter_values_as_the_cli_takes_them() -> None:
    assert parse_duration("24h") == timedelta(hours=24)
    assert parse_since("15m", NOW) == NOW - timedelta(minutes=15)
    assert parse_since("2025-06-01T00:00Z", NOW) == datetime(2025, 6, 1, tzinfo=UTC)
    assert parse_time("2025-06-01T02:00+02:00") == datetime(2025, 6, 1, tzinfo=UTC)
    assert first_line("\n  boom\nmore") == "boom"
    assert first_line("x" * 300, limit=10) == "x" * 10
