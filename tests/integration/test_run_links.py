"""A run's detail links its child runs (with status, workflow and times) and the runs replayed from it."""

from engine.services.audit import Actor
from engine.services.context import ServiceContext
from engine.services.launch import launch_run
from engine.services.replay import replay_run
from engine.services.runs import get_run_detail
from engine.store.run_links import REPLAY_LINKS
from tests.helpers import publish_examples, wait_for_run

ACTOR = Actor(user="ana", source="test")


async def test_replays_are_listed_on_the_original_newest_first_and_point_back(services: ServiceContext) -> None:
    await publish_examples(services, "echo_chain")
    original = await launch_run(services, workflow_id="echo-chain", payload={"ticket": {"id": 7}})
    await wait_for_run(services, original)
    first = await replay_run(services, original, payload=None, actor=ACTOR)
    second = await replay_run(services, original, payload=None, actor=ACTOR)
    await wait_for_run(services, second)

    detail = await get_run_detail(services, original)
    assert [link.run_id for link in detail.replays] == [second, first]
    assert {link.workflow_id for link in detail.replays} == {"echo-chain"}
    assert detail.replay_of_run_id is None
    replayed = await get_run_detail(services, second)
    assert replayed.replay_of_run_id == original
    assert replayed.replays == []


async def test_the_replays_query_is_served_by_its_index(services: ServiceContext) -> None:
    async with services.pool.acquire() as conn, conn.transaction():
        # Tiny test tables favour a sequential scan; what matters is that the index can serve the query.
        await conn.execute("SET LOCAL enable_seqscan = off")
        plan = "\n".join(
            row[0]
            for row in await conn.fetch(
                "EXPLAIN " + REPLAY_LINKS, services.tenant, "00000000-0000-0000-0000-000000000000", 50
            )
        )
    assert "workflow_runs_replay_of" in plan


async def test_children_carry_status_workflow_and_times(services: ServiceContext) -> None:
    await publish_examples(services, "child", "parent")
    parent = await launch_run(services, workflow_id="parent", payload={"n": 2})
    done = await wait_for_run(services, parent)
    assert done.status == "SUCCEEDED", done.error
    [child] = done.children
    assert done.child_run_ids == [child.run_id]
    assert (child.workflow_id, child.status, child.trigger) == ("child", "SUCCEEDED", "child")
    assert child.completed_at is not None and child.completed_at >= child.started_at
