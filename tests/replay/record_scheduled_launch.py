"""Record ``histories/scheduled_launch.json``: one launcher-mode execution started by a real Temporal Schedule.

``python -m tests.replay.record_scheduled_launch`` — only for a deliberate, versioned change of the launcher
(``RunWorkflow._launch``). The launch activity is a stand-in returning the derived run id: replay never runs
activities, it checks the commands the workflow issues. Recorded with the plain converter, like ``histories/``.
"""

import asyncio
from pathlib import Path

from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from engine.dsl.models import ScheduleTrigger
from engine.services.scheduled_launch import scheduled_run_id
from engine.temporal import TASK_QUEUE
from engine.temporal import schedules as temporal_schedules
from engine.temporal.codec import PLAIN_DATA_CONVERTER
from engine.temporal.contracts import LAUNCH_SCHEDULED_RUN, LaunchScheduledRequest
from engine.temporal.visibility import SEARCH_ATTRIBUTES
from engine.temporal.workflow import RunWorkflow
from tests.conftest import venv_binary
from worker.main import build_sandbox_runner

TARGET = Path(__file__).resolve().parent / "histories" / "scheduled_launch.json"


@activity.defn(name=LAUNCH_SCHEDULED_RUN)
async def launch(request: LaunchScheduledRequest) -> str:
    """The run id the real activity would return."""
    return scheduled_run_id(request.launcher_workflow_id)


async def record() -> None:
    """Trigger a schedule once on a fresh dev server and write its launcher's history."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=venv_binary("temporal"),
        data_converter=PLAIN_DATA_CONVERTER,
        search_attributes=SEARCH_ATTRIBUTES,
    )
    client = env.client
    try:
        async with Worker(
            client,
            task_queue=TASK_QUEUE,
            workflows=[RunWorkflow],
            activities=[launch],
            workflow_runner=build_sandbox_runner(),
        ):
            trigger = ScheduleTrigger.model_validate({"type": "schedule", "cron": "0 0 1 1 *"})
            await temporal_schedules.ensure_schedule(client, "replay", "nightly", 1, trigger)
            await temporal_schedules.trigger(client, "replay", "nightly")
            launchers: list[str] = []
            while not launchers:
                await asyncio.sleep(0.1)
                view = await temporal_schedules.describe(client, "replay", "nightly")
                launchers = view.recent_launchers if view is not None else []
            handle = client.get_workflow_handle(launchers[-1])
            await handle.result()
            TARGET.write_text((await handle.fetch_history()).to_json())
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(record())
