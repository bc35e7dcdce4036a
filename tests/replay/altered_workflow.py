"""A careless change to the workflow (one extra timer first), kept in a module the sandbox can import."""

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from engine.temporal import WORKFLOW_NAME
    from engine.temporal.contracts import RunInput, RunResult
    from engine.temporal.workflow import RunWorkflow


@workflow.defn(name=WORKFLOW_NAME)
class SleepsFirst(RunWorkflow):
    """Issues a timer before the real work: incompatible with every recorded history."""

    @workflow.run
    async def run(self, run_input: RunInput) -> RunResult:
        await workflow.sleep(timedelta(milliseconds=1))
        return await super().run(run_input)
