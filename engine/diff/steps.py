"""Two runs' step timelines side by side, aligned by step path.

Each side's attempt rows are folded into one entry per step (path, step id, iteration): the last attempt's
status and error, how many attempts, and the summed duration of the attempts. The two sequences are then
aligned in execution order (a longest-common-subsequence match, so a branch that ran on one side only shows
as removed and added steps in place). A step id is part of the key: between definition versions the same
path may hold another step, and that is a removal and an addition, not a change.

Durations are figures, never differences: a step that took 12 ms in one run and 30 ms in the other is
"same" when status, attempts and error agree (runs never take exactly the same time).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from difflib import SequenceMatcher
from typing import Any, Literal

from pydantic import BaseModel

StepChange = Literal["added", "removed", "changed", "same"]

StepKey = tuple[str, str | None, str]
"""(path, iteration, step id)."""


@dataclass(frozen=True)
class StepAttempt:
    """One attempt row of a run's step, as the read-model holds it (already redacted)."""

    path: str
    step_id: str
    type: str
    status: str
    attempt: int
    iteration: str | None
    started_at: datetime
    duration_ms: int | None
    error: dict[str, Any] | None


class StepSide(BaseModel):
    """One run's account of a step."""

    status: str
    attempts: int
    duration_ms: int | None
    """Summed over the attempts; ``None`` while one is still running."""
    error_category: str | None = None
    error_message: str | None = None


class StepComparison(BaseModel):
    """One step as runs A and B ran it (``a`` or ``b`` is ``None`` where that run never reached it)."""

    path: str
    step_id: str
    type: str
    iteration: str | None
    change: StepChange
    differences: list[str]
    """For ``changed``: which of ``status``, ``attempts``, ``error`` differ."""
    a: StepSide | None
    b: StepSide | None


@dataclass
class _Folded:
    key: StepKey
    type: str
    side: StepSide


def fold_attempts(attempts: Sequence[StepAttempt]) -> list[_Folded]:
    """One entry per step key in the order each step first started; its last attempt decides status and error."""
    ordered = sorted(attempts, key=lambda s: (s.started_at, s.attempt))
    folded: dict[StepKey, _Folded] = {}
    durations: dict[StepKey, list[int | None]] = {}
    for row in ordered:
        key = (row.path, row.iteration, row.step_id)
        error = row.error or {}
        category, message = error.get("category"), error.get("message")
        side = StepSide(
            status=row.status,
            attempts=max(row.attempt, folded[key].side.attempts if key in folded else 0),
            duration_ms=None,
            error_category=category if isinstance(category, str) else None,
            error_message=message if isinstance(message, str) else None,
        )
        durations.setdefault(key, []).append(row.duration_ms)
        if key in folded:
            folded[key].side = side
        else:
            folded[key] = _Folded(key=key, type=row.type, side=side)
    for key, entry in folded.items():
        taken = durations[key]
        entry.side.duration_ms = None if any(d is None for d in taken) else sum(d for d in taken if d is not None)
    return list(folded.values())


def align_steps(a: Sequence[StepAttempt], b: Sequence[StepAttempt]) -> list[StepComparison]:
    """Run A's and run B's steps in one sequence: shared steps compared, the others added or removed in place."""
    left, right = fold_attempts(a), fold_attempts(b)
    left_by_key, right_by_key = {f.key: f for f in left}, {f.key: f for f in right}
    matcher = SequenceMatcher(a=list(left_by_key), b=list(right_by_key), autojunk=False)
    rows: list[StepComparison] = []
    compared: set[StepKey] = set()

    def compare(key: StepKey) -> None:
        # A step both runs reached in another order is still one step: compared once, where first met.
        if key not in compared:
            compared.add(key)
            rows.append(_compare(left_by_key[key], right_by_key[key]))

    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for entry in left[i1:i2]:
                compare(entry.key)
            continue
        for entry in left[i1:i2]:
            if entry.key in right_by_key:
                compare(entry.key)
            else:
                rows.append(_one_sided(entry, "removed"))
        for entry in right[j1:j2]:
            if entry.key in left_by_key:
                compare(entry.key)
            else:
                rows.append(_one_sided(entry, "added"))
    return rows


def _one_sided(entry: _Folded, change: Literal["added", "removed"]) -> StepComparison:
    path, iteration, step_id = entry.key
    return StepComparison(
        path=path,
        step_id=step_id,
        type=entry.type,
        iteration=iteration,
        change=change,
        differences=[],
        a=entry.side if change == "removed" else None,
        b=entry.side if change == "added" else None,
    )


def _compare(x: _Folded, y: _Folded) -> StepComparison:
    path, iteration, step_id = x.key
    differences = []
    if x.side.status != y.side.status:
        differences.append("status")
    if x.side.attempts != y.side.attempts:
        differences.append("attempts")
    if (x.side.error_category, x.side.error_message) != (y.side.error_category, y.side.error_message):
        differences.append("error")
    return StepComparison(
        path=path,
        step_id=step_id,
        type=x.type,
        iteration=iteration,
        change="changed" if differences else "same",
        differences=differences,
        a=x.side,
        b=y.side,
    )
