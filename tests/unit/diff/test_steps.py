"""Step alignment by path: attempts folded per step, branches added and removed in place, durations as figures."""

from datetime import UTC, datetime, timedelta
from typing import Any

from engine.diff.steps import StepAttempt, align_steps, fold_attempts

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def step(
    n: int,
    path: str,
    step_id: str,
    status: str = "SUCCEEDED",
    *,
    attempt: int = 1,
    ms: int | None = 5,
    error: dict[str, Any] | None = None,
    iteration: str | None = None,
) -> StepAttempt:
    return StepAttempt(
        path=path,
        step_id=step_id,
        type="action.call",
        status=status,
        attempt=attempt,
        iteration=iteration,
        started_at=T0 + timedelta(seconds=n),
        duration_ms=ms,
        error=error,
    )


def test_attempts_fold_into_one_entry_with_the_last_status_and_summed_duration() -> None:
    [entry] = fold_attempts(
        [
            step(1, "root.steps[0]", "call", "FAILED", attempt=1, ms=10, error={"category": "Timeout"}),
            step(2, "root.steps[0]", "call", "SUCCEEDED", attempt=2, ms=7),
        ]
    )
    assert (entry.side.status, entry.side.attempts, entry.side.duration_ms) == ("SUCCEEDED", 2, 17)
    assert entry.side.error_category is None


def test_a_running_attempt_leaves_the_duration_open() -> None:
    [entry] = fold_attempts([step(1, "root.steps[0]", "call", "STARTED", ms=None)])
    assert entry.side.duration_ms is None


def test_a_branch_taken_on_one_side_only_is_removed_and_added_in_place() -> None:
    a = [
        step(1, "root.steps[0]", "route"),
        step(2, "root.steps[0].then[0]", "page"),
        step(3, "root.steps[1]", "record"),
    ]
    b = [
        step(1, "root.steps[0]", "route"),
        step(2, "root.steps[0].else[0]", "queue"),
        step(3, "root.steps[1]", "record"),
    ]
    rows = [(r.path, r.change) for r in align_steps(a, b)]
    assert rows == [
        ("root.steps[0]", "same"),
        ("root.steps[0].then[0]", "removed"),
        ("root.steps[0].else[0]", "added"),
        ("root.steps[1]", "same"),
    ]


def test_status_attempts_and_error_differences_are_named_but_duration_is_not() -> None:
    a = [step(1, "root.steps[0]", "call", ms=5), step(2, "root.steps[1]", "fail", "SUCCEEDED", ms=1)]
    b = [
        step(1, "root.steps[0]", "call", ms=500),
        step(2, "root.steps[1]", "fail", "FAILED", attempt=1, ms=1, error={"category": "X", "message": "m"}),
        step(3, "root.steps[1]", "fail", "FAILED", attempt=2, ms=1, error={"category": "X", "message": "m"}),
    ]
    rows = align_steps(a, b)
    assert [(r.path, r.change, r.differences) for r in rows] == [
        ("root.steps[0]", "same", []),
        ("root.steps[1]", "changed", ["status", "attempts", "error"]),
    ]
    assert rows[0].a is not None and rows[0].b is not None
    assert (rows[0].a.duration_ms, rows[0].b.duration_ms) == (5, 500)
    assert rows[1].b is not None and rows[1].b.error_message == "m"


def test_the_same_path_holding_another_step_is_a_removal_and_an_addition() -> None:
    rows = align_steps([step(1, "root.steps[1]", "old")], [step(1, "root.steps[1]", "new")])
    assert [(r.step_id, r.change) for r in rows] == [("old", "removed"), ("new", "added")]


def test_loop_iterations_are_separate_steps_and_reordered_steps_are_compared_once() -> None:
    a = [
        step(1, "root.steps[0].body[0]", "item", iteration="0"),
        step(2, "root.steps[0].body[0]", "item", iteration="1"),
    ]
    b = [step(1, "root.steps[0].body[0]", "item", iteration="0")]
    assert [(r.iteration, r.change) for r in align_steps(a, b)] == [("0", "same"), ("1", "removed")]
    x = [step(1, "p1", "one"), step(2, "p2", "two"), step(3, "p3", "three")]
    y = [step(1, "p3", "three"), step(2, "p1", "one"), step(3, "p2", "two")]
    rows = align_steps(x, y)
    assert sorted(r.path for r in rows) == ["p1", "p2", "p3"]
    assert all(r.change == "same" for r in rows)
