"""What a fault scenario measures once its runs settle, the one line it prints, and the suite's tally.

Lost: a launched run missing from the read-model or not finished in time, or a finished run missing a
side effect it must have had. Duplicated: more than one ``workflow_notify_outbox`` row for one
(run, step), or more than one step row for one (run, path, iteration, attempt). Mismatch: a run whose
read-model status disagrees with its Temporal execution, or an execution still open once all settled.
"""

import asyncio
import time
from dataclasses import dataclass, field
from typing import Final

import asyncpg
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from engine.temporal import workflow_id_for_run

RUN_STATUSES: Final = """
SELECT run_id::text AS run_id, status, parent_run_id IS NOT NULL AS is_child FROM workflow_runs WHERE tenant = $1
"""

OPEN_RUNS: Final = "SELECT count(*) FROM workflow_runs WHERE tenant = $1 AND status IN ('RUNNING', 'WAITING')"

DUPLICATED_EFFECTS: Final = """
SELECT coalesce(sum(n - 1), 0) FROM (
    SELECT count(*) AS n FROM workflow_notify_outbox WHERE tenant = $1 GROUP BY run_id, step_path HAVING count(*) > 1
) AS dup
"""

EFFECTS_PER_RUN: Final = """
SELECT run_id::text AS run_id, count(DISTINCT step_path) AS steps FROM workflow_notify_outbox
 WHERE tenant = $1 GROUP BY run_id
"""

DUPLICATED_STEPS: Final = """
SELECT coalesce(sum(n - 1), 0) FROM (
    SELECT count(*) AS n FROM workflow_run_steps WHERE tenant = $1
     GROUP BY run_id, path, coalesce(iteration, ''), attempt HAVING count(*) > 1
) AS dup
"""

# Side-effect steps a finished run must have written once each: the mixed definition's three, the child's one.
EFFECTS_OF_ROOT: Final = 3
EFFECTS_OF_CHILD: Final = 1

_TEMPORAL_TO_READ_MODEL: Final = {
    WorkflowExecutionStatus.RUNNING: {"RUNNING", "WAITING"},
    WorkflowExecutionStatus.COMPLETED: {"SUCCEEDED"},
    WorkflowExecutionStatus.FAILED: {"FAILED"},
    WorkflowExecutionStatus.CANCELED: {"CANCELED"},
    WorkflowExecutionStatus.TERMINATED: {"FAILED"},
    WorkflowExecutionStatus.TIMED_OUT: {"FAILED"},
}


@dataclass
class Figures:
    """One scenario's figures."""

    scenario: str
    seed: int
    runs: int = 0
    faults: int = 0
    lost: int = 0
    failed: int = 0
    duplicated_effects: int = 0
    duplicated_steps: int = 0
    mismatches: int = 0
    duplicated_deliveries: int = 0
    """Deliveries accepted more than once (an event id routed twice, a task decided twice)."""
    converge_s: float = 0.0
    notes: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        """The one line the scenario prints."""
        extra = "".join(f" {k}={v}" for k, v in self.notes.items())
        return (
            f"faults[{self.scenario}] seed={self.seed} runs={self.runs} faults={self.faults} lost={self.lost} "
            f"failed={self.failed} dup_effects={self.duplicated_effects} dup_steps={self.duplicated_steps} "
            f"dup_deliveries={self.duplicated_deliveries} "
            f"mismatches={self.mismatches} converge={self.converge_s:.1f}s{extra}"
        )

    def clean(self) -> bool:
        """Whether the promise held: nothing lost, failed, duplicated or out of line with Temporal."""
        return not (
            self.lost
            or self.failed
            or self.duplicated_effects
            or self.duplicated_steps
            or self.duplicated_deliveries
            or self.mismatches
        )


RESULTS: list[Figures] = []
"""Every scenario's figures in this session, for the terminal summary."""


def report(figures: Figures) -> None:
    """Print the scenario's line, keep it for the summary, and fail the test if the promise broke."""
    print(figures.line())
    RESULTS.append(figures)
    assert figures.clean(), f"{figures.line()}\n" + "\n".join(figures.problems[:20])


async def converge(pool: asyncpg.Pool, tenant: str, expected_runs: int, *, since: float, timeout: float) -> float:
    """Wait until ``expected_runs`` root runs exist and no run of the tenant is open; seconds since ``since``.

    Returns even on timeout: the unfinished runs are then counted lost by :func:`measure`.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        roots = await pool.fetchval(
            "SELECT count(*) FROM workflow_runs WHERE tenant = $1 AND parent_run_id IS NULL", tenant
        )
        if roots >= expected_runs and await pool.fetchval(OPEN_RUNS, tenant) == 0:
            break
        await asyncio.sleep(0.2)
    return time.monotonic() - since


async def measure(
    figures: Figures,
    pool: asyncpg.Pool,
    client: Client,
    tenant: str,
    run_ids: list[str],
    *,
    expect_effects: bool = True,
) -> Figures:
    """Fill ``figures`` from the read-model and Temporal for the runs ``run_ids`` (roots) of ``tenant``."""
    figures.runs = len(run_ids)
    rows = {r["run_id"]: r for r in await pool.fetch(RUN_STATUSES, tenant)}
    for run_id in run_ids:
        row = rows.get(run_id)
        if row is None or row["status"] in ("RUNNING", "WAITING"):
            figures.lost += 1
            figures.problems.append(f"lost: run {run_id} is {row['status'] if row else 'missing'}")
    for run_id, row in rows.items():
        if row["status"] not in ("SUCCEEDED", "RUNNING", "WAITING"):
            figures.failed += 1
            figures.problems.append(f"failed: run {run_id} is {row['status']}")
    if expect_effects:
        effects = {r["run_id"]: r["steps"] for r in await pool.fetch(EFFECTS_PER_RUN, tenant)}
        for run_id, row in rows.items():
            wanted = EFFECTS_OF_CHILD if row["is_child"] else EFFECTS_OF_ROOT
            if row["status"] == "SUCCEEDED" and effects.get(run_id, 0) != wanted:
                figures.lost += 1
                figures.problems.append(f"lost: run {run_id} wrote {effects.get(run_id, 0)}/{wanted} side effects")
    figures.duplicated_effects = int(await pool.fetchval(DUPLICATED_EFFECTS, tenant))
    figures.duplicated_steps = int(await pool.fetchval(DUPLICATED_STEPS, tenant))
    for run_id, row in rows.items():
        problem = await _compare_with_temporal(client, run_id, row["status"])
        if problem:
            figures.mismatches += 1
            figures.problems.append(problem)
    return figures


async def _compare_with_temporal(client: Client, run_id: str, status: str) -> str | None:
    try:
        description = await client.get_workflow_handle(workflow_id_for_run(run_id)).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return f"mismatch: run {run_id} is {status} but Temporal has no execution"
        raise
    allowed = _TEMPORAL_TO_READ_MODEL.get(description.status) if description.status else None
    if allowed is None or status not in allowed:
        return f"mismatch: run {run_id} is {status}, Temporal says {description.status}"
    return None
