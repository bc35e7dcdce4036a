"""Timeline rows nest steps under their container, branch and loop iteration."""

from datetime import timedelta
from typing import Any

from engine.services.runs import StepView
from studio_tui.step_tree import timeline_rows
from tests.tui.seed import NOW


def step(path: str, step_id: str, *, iteration: str | None = None, attempt: int = 1, **extra: Any) -> StepView:
    return StepView(
        path=path,
        step_id=step_id,
        type=extra.get("type", "state.assign"),
        status=extra.get("status", "SUCCEEDED"),
        attempt=attempt,
        iteration=iteration,
        started_at=NOW,
        completed_at=NOW + timedelta(milliseconds=5),
        duration_ms=5,
        error=None,
    )


def outline(steps: list[StepView]) -> list[str]:
    """Each row as indentation + step id (with #attempt) or the branch label in brackets."""
    lines = []
    for row in timeline_rows(steps):
        name = (
            f"<{row.label}>"
            if row.step is None
            else row.step.step_id + (f"#{row.step.attempt}" if row.step.attempt > 1 else "")
        )
        lines.append("  " * row.depth + name)
    return lines


def test_if_foreach_trycatch_and_retries_nest_by_path_and_iteration() -> None:
    steps = [
        step("root.steps[0]", "check", type="control.if"),
        step("root.steps[0].then[0]", "page"),
        step("root.steps[1]", "loop", type="control.forEach"),
        step("root.steps[1].body[0]", "echo", iteration="0"),
        step("root.steps[1].body[0]", "echo", iteration="1"),
        step("root.steps[1].body[0]", "echo", iteration="2"),
        step("root.steps[2]", "guard", type="control.tryCatch"),
        step("root.steps[2].try[0]", "explode", status="FAILED"),
        step("root.steps[2].catch[0]", "recover"),
        step("root.steps[3]", "flaky", attempt=1, status="FAILED"),
        step("root.steps[3]", "flaky", attempt=2, status="FAILED"),
        step("root.steps[3]", "flaky", attempt=3),
    ]
    assert outline(steps) == [
        "check",
        "  <then>",
        "  page",
        "loop",
        "  <iteration 0>",
        "  echo",
        "  <iteration 1>",
        "  echo",
        "  <iteration 2>",
        "  echo",
        "guard",
        "  <try>",
        "  explode",
        "  <catch>",
        "  recover",
        "flaky",
        "flaky#2",
        "flaky#3",
    ]


def test_nested_loops_use_the_last_iteration_index_for_the_inner_loop() -> None:
    steps = [
        step("root.steps[0]", "outer", type="control.forEach"),
        step("root.steps[0].body[0]", "inner", iteration="0", type="control.forEach"),
        step("root.steps[0].body[0].body[0]", "leaf", iteration="0.0"),
        step("root.steps[0].body[0].body[0]", "leaf", iteration="0.1"),
        step("root.steps[0].body[0]", "inner", iteration="1", type="control.forEach"),
        step("root.steps[0].body[0].body[0]", "leaf", iteration="1.0"),
    ]
    assert outline(steps) == [
        "outer",
        "  <iteration 0>",
        "  inner",
        "    <iteration 0>",
        "    leaf",
        "    <iteration 1>",
        "    leaf",
        "  <iteration 1>",
        "  inner",
        "    <iteration 0>",
        "    leaf",
    ]


def test_a_step_whose_container_is_missing_is_still_shown() -> None:
    assert outline([step("root.steps[4].then[0]", "orphan")]) == ["orphan"]


def test_row_keys_are_unique_and_stable() -> None:
    steps = [step("root.steps[0]", "a"), step("root.steps[0]", "a", attempt=2)]
    first = [row.key for row in timeline_rows(steps)]
    assert len(set(first)) == len(first)
    assert first == [row.key for row in timeline_rows(list(steps))]
