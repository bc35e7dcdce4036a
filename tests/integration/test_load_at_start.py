"""A run started with its definition and input skips the ``load_run`` local activity, and keeps its effects.

What ``load_run`` did besides reading (record the Temporal run id, count a started run) now goes with the
run's first projection; a starter that cannot vouch for the pinned definition leaves the loading to the run.
"""

import contextlib
from datetime import UTC, datetime
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError

from engine import metrics
from engine.dsl.hashing import definition_hash
from engine.services.context import ServiceContext
from engine.services.launch import launch_run, preloaded
from engine.services.publish import publish_definition
from engine.store.definitions import DefinitionVersion
from engine.temporal import contracts as c
from engine.temporal import workflow_id_for_run
from tests.helpers import example, publish_examples, wait_for_run


async def _local_activities(services: ServiceContext, run_id: str) -> list[str]:
    """The local activity types recorded in the run's (current execution's) history, in order."""
    handle = (await services.temporal()).get_workflow_handle(workflow_id_for_run(run_id))
    # The read-model shows the ending before the task that wrote it completes: wait for the workflow to close.
    with contextlib.suppress(WorkflowFailureError):
        await handle.result()
    history = await handle.fetch_history()
    found: list[str] = []
    for event in history.events:
        if event.event_type != EventType.EVENT_TYPE_MARKER_RECORDED:
            continue
        data = event.marker_recorded_event_attributes.details["data"].payloads[0].data
        found.extend(name for name in (c.LOAD_RUN, c.PROJECT, c.FAIL_RUN) if f'"{name}"'.encode() in data)
    return found


async def _temporal_run_id(services: ServiceContext, run_id: str) -> Any:
    return await services.pool.fetchval(
        "SELECT temporal_run_id FROM workflow_runs WHERE tenant = $1 AND run_id = $2", services.tenant, run_id
    )


async def test_a_launched_run_skips_load_run_and_still_records_its_temporal_run(services: ServiceContext) -> None:
    await publish_examples(services, "echo_chain")
    started = metrics.RUNS_STARTED._value.get()
    run_id = await launch_run(services, workflow_id="echo-chain", payload={"ticket": {"id": 41}})
    detail = await wait_for_run(services, run_id)
    assert detail.status == "SUCCEEDED", detail.error
    assert detail.output == {"label": "T-42"}
    assert await _local_activities(services, run_id) == [c.PROJECT]  # the finish; no load
    handle = (await services.temporal()).get_workflow_handle(workflow_id_for_run(run_id))
    assert await _temporal_run_id(services, run_id) == (await handle.describe()).run_id
    assert metrics.RUNS_STARTED._value.get() == started + 1


async def test_a_child_run_is_started_with_what_it_needs(services: ServiceContext) -> None:
    await publish_examples(services, "child", "parent")
    run_id = await launch_run(services, workflow_id="parent", payload={"n": 21})
    done = await wait_for_run(services, run_id)
    assert done.status == "SUCCEEDED", done.error
    assert done.vars["childResult"] == 42
    (child_id,) = done.child_run_ids
    assert c.LOAD_RUN not in await _local_activities(services, child_id)
    handle = (await services.temporal()).get_workflow_handle(workflow_id_for_run(child_id))
    assert await _temporal_run_id(services, child_id) == (await handle.describe()).run_id


def test_the_launcher_hands_over_only_what_load_run_would_have_accepted() -> None:
    definition = example("echo_chain")
    pinned = DefinitionVersion(
        workflow_id="echo-chain",
        version=1,
        definition=definition,
        definition_hash=definition_hash(definition),
        published_at=datetime.now(UTC),
    )
    loaded = preloaded(pinned, {"ticket": {"id": 41}})
    assert loaded == c.LoadedRun(
        workflow_id="echo-chain", workflow_version=1, definition=definition, payload={"ticket": {"id": 41}}
    )
    # Altered since it was pinned: the run loads for itself and fails DefinitionMismatch there.
    assert preloaded(pinned.model_copy(update={"definition_hash": "f" * 64}), {}) is None
    # An input the converter cannot carry: the run fails LoadError, as it did, instead of its start.
    deep: dict[str, Any] = {}
    for _ in range(300):
        deep = {"d": deep}
    assert preloaded(pinned, deep) is None


async def test_a_run_failing_before_its_first_projection_still_records_its_temporal_run(
    services: ServiceContext,
) -> None:
    # The NUL makes the first projection (before the wait) fail for good: the last resort records the run id.
    nul = {"id": "poison", "type": "state.assign", "assign": {"vars.bad": {"$expr": '$base64decode("AA==")'}}}
    await publish_definition(
        services,
        {
            "id": "nul-first",
            "version": 1,
            "name": "nul-first",
            "steps": [nul, {"id": "nap", "type": "time.wait", "durationMs": 50}],
        },
    )
    run_id = await launch_run(services, workflow_id="nul-first", payload={})
    done = await wait_for_run(services, run_id, timeout=15)
    assert done.status == "FAILED"
    assert done.error is not None and done.error["category"] == "ProjectionError"
    assert await _local_activities(services, run_id) == [c.PROJECT, c.FAIL_RUN]
    handle = (await services.temporal()).get_workflow_handle(workflow_id_for_run(run_id))
    assert await _temporal_run_id(services, run_id) == (await handle.describe()).run_id
