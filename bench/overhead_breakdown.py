"""Where each millisecond of an interpreted run goes, next to a raw Temporal run, from history timestamps.

Runs R interpreted runs of ``bench-<N>`` (N ``core.echo`` steps) and R raw workflows of N trivial
activities on the same servers (see bench/interpreter_overhead.py), fetches each history and splits the
time from ``WorkflowExecutionStarted`` to the close event into:

  wft schedule-to-start   workflow task scheduled → picked up by the worker (server dispatch + poll)
  wft run                 workflow task started → completed: workflow code, including local activities
    of which local act.   the local activities' own time, timed in the worker by an interceptor (the
                          history's markers carry no usable timing: their two times come from
                          different clocks and can run backwards)
  activity sched-to-start activity scheduled → picked up by the worker
  activity run            activity started → completed (the activity body, here the ledger + projection)
  server between          everything else (a completion until the next task is scheduled, the close)

and prints the mean per run of each, for raw and interpreted, with the difference: the overhead.
``--history FILE`` breaks down one recorded history JSON (``tests/replay/histories/*.json``) instead.
Usage: ``.venv/bin/python -m bench.overhead_breakdown [--steps 10] [--runs 10] [--history FILE]``.
"""

import argparse
import asyncio
import json
import os
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHistory
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor, Worker

from bench.interpreter_overhead import bench_stack
from bench.raw_workflow import RawWorkflow, bench_echo
from engine.actions.registry import default_registry
from engine.services.context import ServiceContext
from engine.services.launch import launch_run
from engine.temporal import TASK_QUEUE, workflow_id_for_run
from engine.temporal.activities import Activities
from engine.temporal.codec import data_converter
from engine.temporal.workflow import RunWorkflow
from worker.main import build_sandbox_runner

ROWS = (
    "wft schedule-to-start",
    "wft run",
    "  of which local activities",
    "activity schedule-to-start",
    "activity run",
    "server between",
    "total (start -> close)",
)
_LOCAL_MARKER = "core_local_activity"
_CLOSE = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
}


def _ms(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() * 1000


def breakdown(events: Iterable[HistoryEvent]) -> tuple[Counter[str], Counter[str]]:
    """Milliseconds per row of ``ROWS`` for one history, and how many of each kind of task it had."""
    spent: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    previous: HistoryEvent | None = None
    start: datetime | None = None
    for event in events:
        at = event.event_time.ToDatetime()
        if start is None:
            start = at
        if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            counts["local activities"] += int(event.marker_recorded_event_attributes.marker_name == _LOCAL_MARKER)
        if previous is not None:
            gap = _ms(at, previous.event_time.ToDatetime())
            kind = event.event_type
            if kind == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
                spent["wft schedule-to-start"] += gap
                counts["workflow tasks"] += 1
            elif kind in (EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED):
                spent["wft run"] += gap
            elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                spent["activity schedule-to-start"] += gap
                counts["activities"] += 1
            elif kind in (EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED):
                spent["activity run"] += gap
            else:
                spent["server between"] += gap
        if event.event_type in _CLOSE and start is not None:
            spent["total (start -> close)"] += _ms(at, start)
        previous = event
    return spent, counts


class _Timing(Interceptor):
    """Times every activity body in the worker: (name, local?) → milliseconds, summed."""

    def __init__(self) -> None:
        self.spent: Counter[tuple[str, bool]] = Counter()
        self.counts: Counter[tuple[str, bool]] = Counter()

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        timing = self

        class _Timed(ActivityInboundInterceptor):
            async def execute_activity(self, input: ExecuteActivityInput) -> Any:
                info = activity.info()
                began = time.perf_counter()
                try:
                    return await super().execute_activity(input)
                finally:
                    key = (info.activity_type, info.is_local)
                    timing.spent[key] += (time.perf_counter() - began) * 1000
                    timing.counts[key] += 1

        return _Timed(next)

    def reset(self) -> None:
        """Forget the warm-up runs."""
        self.spent.clear()
        self.counts.clear()


def print_table(columns: dict[str, tuple[Counter[str], Counter[str]]], runs: int) -> None:
    """One row per part of the time, one column per kind of run (mean ms per run), and the overhead."""
    names = list(columns)
    print(f"{'ms per run (mean of ' + str(runs) + ')':32}" + "".join(f"{n:>14}" for n in names), end="")
    print(f"{'overhead':>12}" if len(names) == 2 else "")
    for row in ROWS:
        values = [columns[n][0][row] / runs for n in names]
        line = f"{row:32}" + "".join(f"{v:14.1f}" for v in values)
        if len(values) == 2:
            line += f"{values[1] - values[0]:+12.1f}"
        print(line)
    for what in ("workflow tasks", "activities", "local activities"):
        print(f"{what + ' per run':32}" + "".join(f"{columns[n][1][what] / runs:14.1f}" for n in names))


async def measured(steps: int, runs: int) -> None:
    """Run raw and interpreted runs side by side and break their histories down."""
    print(f"load average at start: {os.getloadavg()}")
    async with bench_stack(steps) as stack:
        converter = data_converter(stack.keyring)
        client = await Client.connect(stack.endpoints.temporal_address, data_converter=converter)
        ctx = ServiceContext(stack.pool, stack.endpoints, "bench", _client=client, keyring=stack.keyring)
        activities = Activities(pool=stack.pool, registry=default_registry(), keyring=stack.keyring)
        worker = Worker(
            client,
            task_queue=TASK_QUEUE,
            workflows=[RunWorkflow, RawWorkflow],
            activities=[*activities.all(), bench_echo],
            workflow_runner=build_sandbox_runner(),
            interceptors=[timing := _Timing()],
        )
        histories: dict[str, list[WorkflowHistory]] = {"raw": [], "interpreted": []}
        async with worker:
            for i in range(runs + 2):  # the first two warm the worker and caches
                raw = await client.start_workflow(
                    RawWorkflow.run, steps, id=f"raw-{uuid.uuid4()}", task_queue=TASK_QUEUE
                )
                await raw.result()
                run_id = await launch_run(ctx, workflow_id=f"bench-{steps}", payload={})
                interpreted = client.get_workflow_handle(workflow_id_for_run(run_id))
                await interpreted.result()
                if i == 1:
                    timing.reset()
                if i >= 2:
                    histories["raw"].append(await raw.fetch_history())
                    histories["interpreted"].append(await interpreted.fetch_history())
    print(f"load average at end: {os.getloadavg()}")
    print(f"steps={steps}, {runs} runs each, codec on, dev server in memory with the fast dispatch setting")
    columns = {name: _summed(h.events for h in got) for name, got in histories.items()}
    # The local activities all belong to the interpreted runs (the raw workflow has none).
    columns["interpreted"][0]["  of which local activities"] = sum(
        ms for (_, local), ms in timing.spent.items() if local
    )
    print_table(columns, runs)
    print("activity bodies timed in the worker (mean ms per call, calls per run):")
    for (name, local), ms in sorted(timing.spent.items()):
        calls = timing.counts[(name, local)]
        print(f"  {name + (' (local)' if local else ''):30}{ms / calls:8.2f} ms  x{calls / runs:5.1f}")


def _summed(histories: Iterable[Iterable[HistoryEvent]]) -> tuple[Counter[str], Counter[str]]:
    spent: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    for events in histories:
        s, c = breakdown(events)
        spent.update(s)
        counts.update(c)
    return spent, counts


def recorded(path: Path) -> None:
    """Break down one history JSON as the replay fixtures store it."""
    history = WorkflowHistory.from_json("recorded", json.loads(path.read_text()))
    print(f"{path} ({len(history.events)} events)")
    print_table({"recorded": breakdown(history.events)}, 1)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--history", type=Path, help="a recorded history JSON to break down instead")
    args = parser.parse_args()
    if args.history:
        recorded(args.history)
    else:
        asyncio.run(measured(args.steps, args.runs))
