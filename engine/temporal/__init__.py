"""Temporal wiring: the one task queue, the interpreter workflow, its activities and client helpers."""

from datetime import timedelta
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


LONG_POLL_EXPIRATION: Final = timedelta(seconds=5)
"""How long Temporal holds an idle worker's poll before the worker polls again (server setting).

Temporal stamps a poller's ``last_access_time`` when a poll *arrives*, so an idle live worker's last-seen age
is a sawtooth up to this interval (measured: up to ~55 s with the server default of 1 minute, up to ~5 s
with 5 s). The embedded stack and the tests start the dev server with ``DEV_SERVER_POLL_FLAGS``; an external
Temporal needs ``matching.longPollExpirationInterval`` at most this long for ``POLLER_FRESHNESS`` to hold."""

DEV_SERVER_POLL_FLAGS: Final = (
    "--dynamic-config-value",
    f'matching.longPollExpirationInterval="{int(LONG_POLL_EXPIRATION.total_seconds())}s"',
)
"""``temporal server start-dev`` arguments that make the server hold polls for ``LONG_POLL_EXPIRATION``."""
