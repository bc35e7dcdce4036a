"""Recorded histories of the example workflows must replay against today's workflow code.

A change that alters the commands a running workflow issues fails here, before it strands runs in
flight. Re-record (``python -m tests.replay.record_histories``) only for a deliberate, versioned change.
"""

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from engine.temporal.client import DATA_CONVERTER
from engine.temporal.workflow import RunWorkflow
from tests.replay.altered_workflow import SleepsFirst
from worker.main import build_sandbox_runner

HISTORIES = sorted((Path(__file__).resolve().parent / "histories").glob("*.json"))


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(f"replay-{path.stem}", path.read_text())


def test_histories_are_recorded_for_every_example_scenario() -> None:
    names = {p.stem for p in HISTORIES}
    assert names >= {
        "echo_chain",
        "branching",
        "foreach",
        "try_catch",
        "retry",
        "timer",
        "event_wait",
        "human_task",
        "parent",
        "child",
        "notify_once",
    }


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_history_replays_without_nondeterminism(path: Path) -> None:
    replayer = Replayer(workflows=[RunWorkflow], data_converter=DATA_CONVERTER, workflow_runner=build_sandbox_runner())
    result = await replayer.replay_workflow(load(path))
    assert result.replay_failure is None


async def test_a_changed_command_sequence_is_caught() -> None:
    replayer = Replayer(workflows=[SleepsFirst], data_converter=DATA_CONVERTER, workflow_runner=build_sandbox_runner())
    with pytest.raises(NondeterminismError):
        await replayer.replay_workflow(load(HISTORIES[0]))
