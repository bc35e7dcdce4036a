"""The baseline for bench/interpreter_overhead.py: a plain workflow calling one trivial activity N times."""

from datetime import timedelta
from typing import Any

from temporalio import activity, workflow


@activity.defn(name="bench_echo")
async def bench_echo(value: dict[str, Any]) -> dict[str, Any]:
    """Return the input unchanged (what core.echo does, without the ledger and projections)."""
    return value


@workflow.defn(name="bench-raw")
class RawWorkflow:
    """N sequential activities, nothing else."""

    @workflow.run
    async def run(self, count: int) -> int:
        for index in range(count):
            await workflow.execute_activity(
                "bench_echo", {"index": index}, start_to_close_timeout=timedelta(seconds=30)
            )
        return count


@workflow.defn(name="bench-bare-wait")
class BareWaitWorkflow:
    """The fan-out baseline: wait for one signal, then end (no read-model, no interpreter)."""

    def __init__(self) -> None:
        self._got = False

    @workflow.signal(name="event")
    def event(self, _payload: dict[str, Any]) -> None:
        """The event arrived."""
        self._got = True

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self._got)
