"""Schedule triggers at publish: the cron subset, the time zone, jitter and the start/end window, with paths."""

from typing import Any

import pytest

from engine.dsl.cron import cron_problem
from engine.dsl.models import Definition, ScheduleTrigger
from engine.dsl.validate import DefinitionInvalid, validate_definition


def problems(trigger: dict[str, Any]) -> list[str]:
    """Every problem publishing a definition with ``trigger`` reports, as ``path: message``."""
    raw = {
        "id": "sched",
        "version": 1,
        "name": "Scheduled",
        "trigger": trigger,
        "steps": [{"id": "a", "type": "state.assign", "assign": {"vars.a": 1}}],
    }
    try:
        validate_definition(raw, action_exists=lambda name, version: True, workflow_exists=lambda w, v: True)
    except DefinitionInvalid as exc:
        return [str(problem) for problem in exc.problems]
    return []


@pytest.mark.parametrize(
    "cron",
    [
        "* * * * *",
        "0 9 * * mon-fri",
        "*/15 0-6 1,15 jan-jun 7",
        "5/10 * * * 0",
        "30 2 * DEC SUN-SAT",
        "@hourly",
        "@Daily",
    ],
)
def test_accepted_cron_forms(cron: str) -> None:
    assert cron_problem(cron) is None
    assert problems({"type": "schedule", "cron": cron}) == []


@pytest.mark.parametrize(
    ("cron", "reason"),
    [
        ("every tuesday", "needs 5 fields"),
        ("* * * *", "it has 4"),
        ("0 0 0 9 * * *", "it has 7"),
        ("60 * * * *", "the minute field '60': 60 is outside 0-59"),
        ("* 24 * * *", "the hour field '24': 24 is outside 0-23"),
        ("* * 0 * *", "the day of month field '0': 0 is outside 1-31"),
        ("* * * 13 * ", "the month field '13': 13 is outside 1-12"),
        ("* * * * 8", "the day of week field '8': 8 is outside 0-7"),
        ("* * * * fri-mon", "runs backwards"),
        ("*/0 * * * *", "a step must be at least 1"),
        ("0 9 * * 1#2", "'1#2' is not *, N, N-M or a step"),
        ("0 0 L * *", "'l' is not a number"),
        ("* * * foo *", "'foo' is not a number or a name (jan, feb"),
        ("@every 5m", "unknown macro '@every 5m'"),
    ],
)
def test_refused_cron_forms_name_the_path_and_the_reason(cron: str, reason: str) -> None:
    [problem] = problems({"type": "schedule", "cron": cron})
    assert problem.startswith("$.trigger.cron: ")
    assert reason in problem


def test_timezone_jitter_and_window_are_checked_with_their_paths() -> None:
    found = problems(
        {
            "type": "schedule",
            "cron": "@hourly",
            "timezone": "Mars/Olympus",
            "jitterMs": 3_600_001,
            "startAt": "2027-01-01T00:00:00",
            "endAt": "yesterday",
        }
    )
    assert found == [
        "$.trigger.jitterMs: Input should be less than or equal to 3600000",
        "$.trigger.timezone: 'Mars/Olympus' is not an IANA time zone name (e.g. Europe/Paris, UTC)",
        "$.trigger.startAt: '2027-01-01T00:00:00' has no UTC offset; add one (e.g. +00:00 or Z)",
        "$.trigger.endAt: 'yesterday' is not an ISO-8601 timestamp (e.g. 2027-01-01T09:00:00+01:00)",
    ]
    assert problems(
        {"type": "schedule", "cron": "@hourly", "startAt": "2027-01-02T00:00:00Z", "endAt": "2027-01-01T00:00:00Z"}
    ) == ["$.trigger.endAt: must be later than startAt"]


def test_a_full_schedule_trigger_parses_with_its_json_names() -> None:
    trigger = {
        "type": "schedule",
        "cron": "0 9 * * mon-fri",
        "timezone": "Europe/Paris",
        "jitterMs": 30_000,
        "startAt": "2027-01-01T00:00:00+01:00",
        "endAt": "2028-01-01T00:00:00Z",
    }
    assert problems(trigger) == []
    parsed = ScheduleTrigger.model_validate(trigger)
    assert (parsed.timezone, parsed.jitter_ms, parsed.start_at) == ("Europe/Paris", 30_000, "2027-01-01T00:00:00+01:00")
    assert parsed.model_dump(exclude_none=True) == trigger


def test_a_definition_stored_before_the_cron_check_still_loads() -> None:
    # The workflow parses stored definitions with the models: an unchecked cron must not stop old runs.
    stored = {
        "id": "old",
        "version": 1,
        "name": "Old",
        "trigger": {"type": "schedule", "cron": "every tuesday"},
        "steps": [{"id": "a", "type": "state.assign", "assign": {"vars.a": 1}}],
    }
    assert isinstance(Definition.model_validate(stored).trigger, ScheduleTrigger)
