"""Temporal wiring: the one task queue, the interpreter workflow, its activities and client helpers."""

from typing import Final

TASK_QUEUE: Final = "workflow-runtime-v2"
"""The only task queue. Producer and worker both use this constant; no setting can change it."""

WORKFLOW_NAME: Final = "workflow-runtime-v2"
"""The registered name of the one interpreter workflow."""

WORKFLOW_ID_PREFIX: Final = "workflow-runtime-v2:run:"


def workflow_id_for_run(run_id: str) -> str:
    """Return the Temporal workflow id of a run: ``workflow-runtime-v2:run:<run_id>``."""
    return f"{WORKFLOW_ID_PREFIX}{run_id}"


MAX_CHILD_DEPTH: Final = 16
"""How deep ``control.callWorkflow`` may nest: a root run is depth 0 and its children go down to depth 16.

Starting a child deeper than this fails the calling step with the catchable category ``ChildDepthExceeded``
(no child run row is created), so a definition that reaches itself cannot recurse without end.
"""
