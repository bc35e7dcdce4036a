"""The baseline for bench/fanout.py: a bare workflow that only waits for one signal."""

from typing import Any

from temporalio import workflow


@workflow.defn(name="bench-bare-waiter")
class BareWaiter:
    """Blocks until signaled ``go`` once, then ends (no projection, no interpreter)."""

    def __init__(self) -> None:
        self._signaled = False

    @workflow.signal
    def go(self, value: dict[str, Any]) -> None:
        """The event: any value ends the wait."""
        del value
        self._signaled = True

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self._signaled)
