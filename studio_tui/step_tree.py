"""Turns a run's step attempts into timeline rows nested by control flow (no Textual here).

A step's path says where it sits: ``root.steps[1].body[0]`` is the first body step of the forEach at
``root.steps[1]``; its ``iteration`` (``"2"``, or ``"0.2"`` inside an outer loop) says which pass. Rows come
out depth-first: a container, then a label row per branch (``then``, ``else``, ``try``, ``catch``,
``iteration N``) followed by the steps that ran in it; every attempt of a retried step is its own row.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from engine.services.runs import StepView

_SEGMENT = re.compile(r"\.([A-Za-z]+)\[(\d+)\]")


@dataclass(frozen=True)
class TimelineRow:
    """One line of the timeline: a step attempt, or the label of a branch / loop iteration."""

    kind: Literal["step", "branch"]
    depth: int
    key: str
    """Stable across refreshes, so the cursor can stay on the same row."""
    step: StepView | None = None
    label: str = ""


@dataclass
class _Node:
    attempts: list[StepView]
    branches: dict[tuple[str, str | None], list["_Node"]] = field(default_factory=dict)


def _segments(path: str) -> list[tuple[str, int]]:
    return [(name, int(index)) for name, index in _SEGMENT.findall(path)]


def _join(segments: list[tuple[str, int]]) -> str:
    return "root" + "".join(f".{name}[{index}]" for name, index in segments)


def _placement(step: StepView) -> tuple[str, str | None, tuple[str, str | None]] | None:
    """(parent path, parent iteration, branch key) of a nested step; ``None`` for a top-level one."""
    segments = _segments(step.path)
    if len(segments) <= 1:
        return None
    branch = segments[-1][0]
    parent_path = _join(segments[:-1])
    if branch == "body":
        # A loop body runs once per item: its iteration ends with the item's index.
        parts = step.iteration.split(".") if step.iteration else []
        item = parts[-1] if parts else None
        return parent_path, ".".join(parts[:-1]) or None, (branch, item)
    return parent_path, step.iteration, (branch, None)


def _branch_label(branch: str, item: str | None) -> str:
    if branch == "body":
        return f"iteration {item}" if item is not None else "body"
    return branch


def timeline_rows(steps: Sequence[StepView]) -> list[TimelineRow]:
    """The timeline of ``steps`` (as ``get_run_detail`` orders them: by execution, attempts in order).

    A step whose container is missing from the list (it should not happen) is shown at the top level
    rather than dropped.
    """
    roots: list[_Node] = []
    nodes: dict[tuple[str, str | None], _Node] = {}
    for step in steps:
        key = (step.path, step.iteration)
        if key in nodes:
            nodes[key].attempts.append(step)
            continue
        node = _Node([step])
        nodes[key] = node
        placement = _placement(step)
        parent = nodes.get((placement[0], placement[1])) if placement else None
        if placement is None or parent is None:
            roots.append(node)
        else:
            parent.branches.setdefault(placement[2], []).append(node)
    rows: list[TimelineRow] = []
    for node in roots:
        _flatten(node, 0, rows)
    return rows


def _flatten(node: _Node, depth: int, rows: list[TimelineRow]) -> None:
    for step in sorted(node.attempts, key=lambda s: s.attempt):
        rows.append(
            TimelineRow(kind="step", depth=depth, key=f"step|{step.path}|{step.iteration}|{step.attempt}", step=step)
        )
    first = node.attempts[0]
    for (branch, item), children in node.branches.items():
        rows.append(
            TimelineRow(
                kind="branch",
                depth=depth + 1,
                key=f"branch|{first.path}|{first.iteration}|{branch}|{item}",
                label=_branch_label(branch, item),
            )
        )
        for child in children:
            _flatten(child, depth + 1, rows)
