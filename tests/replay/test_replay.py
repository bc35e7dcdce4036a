"""Recorded histories of the example workflows must replay against today's workflow code.

A change that alters the commands a running workflow issues fails here, before it strands runs in
flight. Re-record (``python -m tests.replay.record_histories``) only for a deliberate, versioned change.

``histories/`` were recorded without the payload codec and replay with the plain converter (runs from
before the codec still exist); ``histories_encrypted/`` were recorded with it (``--encrypted``) and replay
with the converter over the TEST-ONLY keyring in ``test_keyring.keys``.
"""

import logging
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from engine.keyring import parse_keys
from engine.temporal.codec import PLAIN_DATA_CONVERTER, data_converter, payload_key_id
from engine.temporal.workflow import RunWorkflow
from tests.replay.altered_workflow import SleepsFirst
from tests.replay.keyring import ENCRYPTED_HISTORIES, TEST_KEYRING
from worker.main import build_sandbox_runner

HISTORIES = sorted((Path(__file__).resolve().parent / "histories").glob("*.json"))
ENCRYPTED = sorted(ENCRYPTED_HISTORIES.glob("*.json"))


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
    replayer = Replayer(
        workflows=[RunWorkflow], data_converter=PLAIN_DATA_CONVERTER, workflow_runner=build_sandbox_runner()
    )
    result = await replayer.replay_workflow(load(path))
    assert result.replay_failure is None


def activity_payloads(event: HistoryEvent) -> list[Payload]:
    """An event's activity input or result, or its local-activity marker's result (none for other events)."""
    if event.HasField("activity_task_scheduled_event_attributes"):
        return list(event.activity_task_scheduled_event_attributes.input.payloads)
    if event.HasField("activity_task_completed_event_attributes"):
        return list(event.activity_task_completed_event_attributes.result.payloads)
    if event.HasField("marker_recorded_event_attributes"):
        result = event.marker_recorded_event_attributes.details.get("result")
        return list(result.payloads) if result is not None else []
    return []


def test_an_encrypted_history_is_recorded_and_its_payloads_are_ciphertext() -> None:
    assert ENCRYPTED, "record one: .venv/bin/python -m tests.replay.record_histories --encrypted --only echo_chain"
    for path in ENCRYPTED:
        events = load(path).events
        started = events[0].workflow_execution_started_event_attributes.input.payloads
        result = events[-1].workflow_execution_completed_event_attributes.result.payloads
        activity_io = [p for event in events for p in activity_payloads(event)]
        for payload in [*started, *result, *activity_io]:
            assert payload_key_id(payload) == "replay-test-only", payload.metadata
        assert started and result and activity_io


@pytest.mark.parametrize("path", ENCRYPTED, ids=lambda p: p.stem)
async def test_encrypted_history_replays_with_the_keyring(path: Path) -> None:
    replayer = Replayer(
        workflows=[RunWorkflow], data_converter=data_converter(TEST_KEYRING), workflow_runner=build_sandbox_runner()
    )
    result = await replayer.replay_workflow(load(path))
    assert result.replay_failure is None


async def test_encrypted_history_without_its_key_names_the_missing_key(caplog: pytest.LogCaptureFixture) -> None:
    other = parse_keys("someone-else:" + "A" * 43 + "=")
    replayer = Replayer(
        workflows=[RunWorkflow], data_converter=data_converter(other), workflow_runner=build_sandbox_runner()
    )
    caplog.set_level(logging.WARNING)
    result = await replayer.replay_workflow(load(ENCRYPTED[0]), raise_on_replay_failure=False)
    assert result.replay_failure is not None
    # The task failure itself is "Encoded failure" (failure messages are encrypted too); the log names the key.
    assert "key id 'replay-test-only', which is not in the keyring (known: someone-else)" in caplog.text


async def test_a_changed_command_sequence_is_caught() -> None:
    replayer = Replayer(
        workflows=[SleepsFirst], data_converter=PLAIN_DATA_CONVERTER, workflow_runner=build_sandbox_runner()
    )
    with pytest.raises(NondeterminismError):
        await replayer.replay_workflow(load(HISTORIES[0]))
