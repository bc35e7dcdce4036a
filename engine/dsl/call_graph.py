"""Which workflows a definition calls through ``control.callWorkflow``, and whether it can reach itself.

Pure: the caller loads the definitions the edges lead to (tenant-scoped, from the store) and hands them
in as a lookup, so the walk needs no I/O and is easy to test.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from engine.dsl.models import STEP_BRANCHES

CHILD_DEPTH_LIMIT = 16
"""The runtime's maximum child depth; a run nested deeper fails with ``ChildDepthExceeded``."""

Node = tuple[str, int]
"""A published definition version: ``(workflow_id, version)``."""


@dataclass(frozen=True)
class ChildCall:
    """One ``control.callWorkflow`` step: where it is and what it calls (``version`` None means latest)."""

    step_path: str
    workflow_id: str
    version: int | None


def child_calls(definition: Any) -> list[ChildCall]:
    """Every ``control.callWorkflow`` step of a raw definition, with its runtime step path, in document order."""
    steps = definition.get("steps") if isinstance(definition, dict) else None
    return list(_calls(steps, "root.steps"))


def self_cycles(
    start: Node, calls: list[ChildCall], resolve: Callable[[str, int | None], tuple[Node, list[ChildCall]] | None]
) -> list[str]:
    """Warnings for each step of ``start`` from which a chain of child calls leads back to ``start``.

    ``resolve(workflow_id, version or None for latest)`` gives the node a call reaches and that node's own
    calls, or None when nothing is published under it (a dangling call cannot cycle). Each warning names
    the step and the shortest cycle it opens, e.g. ``root.steps[1]: can call itself (a → b → a); …``.
    """
    warnings = []
    for call in calls:
        cycle = _shortest_path_back(start, call, resolve)
        if cycle is not None:
            chain = " → ".join(workflow_id for workflow_id, _ in (start, *cycle))
            warnings.append(
                f"{call.step_path}: can call itself ({chain}); runs stop at child depth {CHILD_DEPTH_LIMIT} "
                "with ChildDepthExceeded"
            )
    return warnings


def _shortest_path_back(
    start: Node, first: ChildCall, resolve: Callable[[str, int | None], tuple[Node, list[ChildCall]] | None]
) -> list[Node] | None:
    # Breadth first, so the cycle named is the shortest; each node is expanded once, so a cycle that does
    # not pass through ``start`` (b → c → b) cannot loop the walk.
    target = resolve(first.workflow_id, first.version)
    if target is None:
        return None
    frontier: list[tuple[Node, list[ChildCall], list[Node]]] = [(*target, [target[0]])]
    seen = {target[0]}
    while frontier:
        next_frontier = []
        for node, calls, path in frontier:
            if node == start:
                return path
            for call in calls:
                reached = resolve(call.workflow_id, call.version)
                if reached is not None and reached[0] not in seen:
                    seen.add(reached[0])
                    next_frontier.append((*reached, [*path, reached[0]]))
        frontier = next_frontier
    return None


def _calls(steps: Any, path: str) -> Iterator[ChildCall]:
    if not isinstance(steps, list):
        return
    for index, step in enumerate(steps):
        if not isinstance(step, dict):
            continue
        step_path = f"{path}[{index}]"
        if step.get("type") == "control.callWorkflow" and isinstance(step.get("workflowId"), str):
            version = step.get("workflowVersion", "latest")
            if version == "latest" or (isinstance(version, int) and not isinstance(version, bool)):
                yield ChildCall(step_path, step["workflowId"], None if version == "latest" else version)
        for branch in STEP_BRANCHES.get(str(step.get("type")), ()):
            yield from _calls(step.get(branch), f"{step_path}.{branch}")
