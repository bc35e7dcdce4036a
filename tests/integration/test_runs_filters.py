"""The runs list's query on real Postgres: the why of each row, on-call filters, sorts with keyset paging,
the capped count, and that each filter has an index to run on. One run goes through real Temporal."""

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from engine.inbound import InboundRejected
from engine.services.context import ServiceContext
from engine.services.launch import launch_run
from engine.services.run_filters import parse_duration, parse_since
from engine.services.runs import RunSummary, count_runs, cursor_of, list_runs
from engine.stack import Endpoints
from engine.store import run_list
from engine.store.run_list import RunFilter, RunSort
from tests.helpers import publish_examples, wait_until
from tests.tui import seed
from tests.tui.seed import NOW, Run, ago, insert_run, publish, run_id

OTHER_TENANT = "someone-else"


def ctx_for(pool: asyncpg.Pool, url: str, tenant: str = seed.TENANT) -> ServiceContext:
    return ServiceContext(
        pool=pool, endpoints=Endpoints(url, "127.0.0.1:1", "default"), tenant=tenant, clock=seed.frozen_clock
    )


@pytest.fixture
async def ctx(db_pool: asyncpg.Pool, migrated_database_url: str) -> ServiceContext:
    """The studio's seeded runs plus a run of each "why" and another tenant holding look-alike rows."""
    await seed.seed_studio(db_pool)
    await publish(db_pool, seed.example("event_wait"))
    await publish(db_pool, seed.example("timer"), tenant=OTHER_TENANT)
    await insert_run(db_pool, Run("on-event", "event-wait", "WAITING", ago(600), step_count=1, trigger="event"))
    await db_pool.execute(
        """INSERT INTO workflow_run_waits (tenant, run_id, seq, step_path, wait_type, event_name, correlation_key,
                                           status, created_at)
           VALUES ($1, $2, 1, 'root.steps[0]', 'event', 'ticket.approved', 'T-1001', 'WAITING', $3),
                  ($1, $2, 0, 'root.steps[0]', 'event', 'ticket.opened', 'T-1000', 'RESOLVED', $3)""",
        seed.TENANT,
        run_id("on-event"),
        ago(590),
    )
    await insert_run(db_pool, Run("on-timer", "timer", "WAITING", ago(700), step_count=1, trigger="schedule"))
    await db_pool.execute(
        """INSERT INTO workflow_run_waits (tenant, run_id, seq, step_path, wait_type, timeout_at, status)
           VALUES ($1, $2, 1, 'root.steps[0]', 'time', $3, 'WAITING')""",
        seed.TENANT,
        run_id("on-timer"),
        NOW + timedelta(minutes=35),
    )
    await db_pool.execute(
        """INSERT INTO workflow_tasks (tenant, task_id, run_id, seq, step_path, task_type, title, status)
           VALUES ($1, gen_random_uuid(), $2, 1, 'root.steps[0]', 'approval', 'Approve refund', 'OPEN')""",
        seed.TENANT,
        run_id("waiting"),
    )
    # The same run id in another tenant, with a wait and a task of its own that must never leak across.
    await insert_run(db_pool, Run("on-timer", "timer", "WAITING", ago(700), step_count=1), tenant=OTHER_TENANT)
    await db_pool.execute(
        """INSERT INTO workflow_run_waits (tenant, run_id, seq, step_path, wait_type, event_name, correlation_key,
                                           status)
           VALUES ($1, $2, 5, 'root.steps[0]', 'event', 'leak.event', 'LEAK', 'WAITING')""",
        OTHER_TENANT,
        run_id("on-timer"),
    )
    return ctx_for(db_pool, migrated_database_url)


def by_id(rows: list[RunSummary]) -> dict[str, RunSummary]:
    return {r.run_id: r for r in rows}


async def test_every_row_says_why_from_one_tenant_scoped_query(ctx: ServiceContext) -> None:
    rows = by_id(await list_runs(ctx, limit=100))
    event = rows[run_id("on-event")]
    assert (event.wait_type, event.wait_event, event.wait_key) == ("event", "ticket.approved", "T-1001")
    timer = rows[run_id("on-timer")]
    assert timer.wait_type == "time" and timer.wait_timeout_at == NOW + timedelta(minutes=35)
    assert timer.wait_event is None  # the other tenant's event wait on the same run id is not this run's
    human = rows[run_id("waiting")]
    assert (human.wait_type, human.task_title) == ("human", "Approve refund")
    running = rows[run_id("running")]
    assert running.current_step == "loop" and running.wait_type is None
    nested = rows[run_id("nested")]
    assert (nested.error_category, nested.error_line) == ("ActionError", "ledger rejected the batch")
    canceled = rows[run_id("canceled")]
    assert (canceled.error_category, canceled.error_line) == ("Canceled", "canceled by ana")
    # Finished runs carry no wait or step even if rows of them remain.
    assert rows[run_id("echo-1")].current_step is None and rows[run_id("echo-1")].error_line is None
    assert rows[run_id("stuck")].stuck and rows[run_id("stuck")].current_step is None


async def test_an_error_line_is_redacted_and_only_its_first_line(ctx: ServiceContext, db_pool: asyncpg.Pool) -> None:
    await insert_run(
        db_pool,
        Run(
            "leaky",
            "support-login",
            "FAILED",
            ago(30),
            ago(29),
            input={"user": "ana", "password": "hunter2"},
            error={"category": "ActionError", "message": "\n  login refused for hunter2\nsecond line"},
        ),
    )
    [row] = [r for r in await list_runs(ctx) if r.run_id == run_id("leaky")]
    assert row.error_category == "ActionError"
    assert row.error_line is not None and row.error_line.startswith("login refused for ")
    assert "hunter2" not in row.error_line and "second line" not in row.error_line


async def test_time_range_stuck_and_trigger_filters(ctx: ServiceContext) -> None:
    last_15m = {r.run_id for r in await list_runs(ctx, since=timedelta(minutes=15))}
    assert last_15m == {run_id(n) for n in ("stuck", "running", "nested", "on-event", "on-timer")}
    assert parse_since("15m", NOW) == NOW - timedelta(minutes=15)
    window = await list_runs(ctx, since=ago(3 * 3600 + 60), until=ago(2 * 3600 + 60))
    # since is inclusive, until exclusive: echo-2 started 2h00m17s ago, after the window closed.
    assert {r.run_id for r in window} == {run_id("waiting"), run_id("echo-3")}
    assert {r.run_id for r in await list_runs(ctx, stuck=True)} == {run_id("stuck")}
    assert {r.run_id for r in await list_runs(ctx, trigger="schedule")} == {run_id("on-timer")}
    assert {r.run_id for r in await list_runs(ctx, trigger="Replay")} == {run_id("nested")}
    assert await list_runs(ctx, stuck=True, trigger="event") == []
    with pytest.raises(InboundRejected, match="unknown trigger"):
        await list_runs(ctx, trigger="cron")
    with pytest.raises(InboundRejected, match="not a duration"):
        parse_duration("soon")


async def test_workflow_prefix_is_case_insensitive_and_literal(ctx: ServiceContext, db_pool: asyncpg.Pool) -> None:
    assert {r.run_id for r in await list_runs(ctx, workflow_prefix="TIME")} == {
        run_id("canceled"),
        run_id("on-timer"),
    }
    assert {r.run_id for r in await list_runs(ctx, workflow_prefix="echo")} == {
        run_id("stuck"),
        *(run_id(f"echo-{n}") for n in range(1, 5)),
    }
    await insert_run(db_pool, Run("percent", "50%_off", "SUCCEEDED", ago(50), ago(49)))
    assert [r.run_id for r in await list_runs(ctx, workflow_prefix="50%_")] == [run_id("percent")]
    assert await list_runs(ctx, workflow_prefix="%") == []
    assert await list_runs(ctx, workflow_prefix="_") == []
    # The other tenant's "timer" run never shows.
    assert all(r.workflow_id != "leak" for r in await list_runs(ctx, workflow_prefix="t"))
    assert len(await list_runs(ctx, workflow_prefix="t")) == 2


async def collect(ctx: ServiceContext, sort: RunSort, page: int = 3) -> list[RunSummary]:
    """Every run, ``page`` at a time by keyset."""
    seen: list[RunSummary] = []
    after = None
    while True:
        rows = await list_runs(ctx, sort=sort, after=after, limit=page)
        seen += rows
        if len(rows) < page:
            return seen
        after = cursor_of(rows[-1], sort)


async def test_sorts_page_by_keyset_without_gaps_or_repeats(ctx: ServiceContext) -> None:
    everything = await list_runs(ctx, limit=1000)
    assert len(everything) == 15
    by_status = await collect(ctx, "status")
    assert [r.run_id for r in by_status] == [
        r.run_id for r in sorted(everything, key=lambda r: (r.status, -r.started_at.timestamp()))
    ]
    assert by_status[0].status == "CANCELED" and by_status[-1].status == "WAITING"
    by_duration = await collect(ctx, "duration")
    open_runs = [r for r in by_duration if r.completed_at is None]
    finished = [r for r in by_duration if r.completed_at is not None]
    assert by_duration[: len(open_runs)] == open_runs  # still going: longest first, i.e. oldest start first
    assert [r.started_at for r in open_runs] == sorted(r.started_at for r in open_runs)
    took = [r.completed_at - r.started_at for r in finished if r.completed_at]
    assert took == sorted(took, reverse=True) and took[0] == timedelta(seconds=90)
    assert {r.run_id for r in by_duration} == {r.run_id for r in everything}
    assert len(by_duration) == len(everything)
    assert [r.run_id for r in await collect(ctx, "started", page=4)] == [r.run_id for r in everything]


async def test_the_count_is_exact_up_to_its_cap(ctx: ServiceContext) -> None:
    assert await count_runs(ctx) == 15
    assert await count_runs(ctx, status="WAITING") == 3
    assert await count_runs(ctx, workflow_prefix="ECHO", cap=3) == 3
    assert await count_runs(ctx, run_id_prefix="not-hex") == 0


SPREAD = """
INSERT INTO workflow_runs (tenant, run_id, workflow_id, workflow_version, status, trigger, started_at, completed_at,
                           step_count)
SELECT 't', gen_random_uuid(), CASE WHEN g % 100 = 0 THEN 'timer' ELSE 'wf-' || g % 20 END, 1,
       CASE WHEN g % 100 = 1 THEN 'RUNNING' ELSE 'SUCCEEDED' END,
       CASE WHEN g % 100 = 2 THEN 'schedule' ELSE 'manual' END,
       now() - g * interval '1 minute', CASE WHEN g % 100 = 1 THEN NULL ELSE now() END,
       CASE WHEN g % 100 = 1 THEN 0 ELSE 3 END
  FROM generate_series(1, $1) AS g
"""
"""Runs of one tenant where each filtered value is rare (1 %), as it is where the filter matters."""


@pytest.mark.parametrize(
    ("where", "sort", "index"),
    [
        (RunFilter(trigger="schedule"), "started", "workflow_runs_by_trigger"),
        (RunFilter(workflow_prefix="ti"), "started", "workflow_runs_workflow_prefix"),
        (RunFilter(stuck_before=datetime.now(UTC)), "started", "workflow_runs_by_status"),
        (RunFilter(since=datetime.now(UTC) - timedelta(minutes=30)), "started", "workflow_runs_latest"),
        (RunFilter(), "duration", "workflow_runs_by_duration"),
        (RunFilter(), "status", "workflow_runs_by_status"),
    ],
)
async def test_each_filter_and_sort_has_its_index(
    db_pool: asyncpg.Pool, where: RunFilter, sort: RunSort, index: str
) -> None:
    # A sort is seen in the page query's plan; a filter in the count's, which has no ORDER BY to compete
    # with (on a page the planner may rightly walk the newest-first index and filter as it goes).
    sql = run_list.page_sql(where, sort=sort) if where == RunFilter() else run_list.count_sql(where)
    args = run_list.query_args("t", where)
    await db_pool.execute(SPREAD, 5000)
    await db_pool.execute("ANALYZE workflow_runs")
    async with db_pool.acquire() as conn, conn.transaction():
        # The test tables are tiny, so the planner would rightly scan them; forbid that to see the index.
        await conn.execute("SET LOCAL enable_seqscan = off")
        plan = "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN {sql}", *args, 100_000))
    assert index in plan, plan
    assert "Sort" not in plan.replace("Sort Key", ""), plan


async def test_a_run_waiting_in_temporal_shows_its_event_and_key(services: ServiceContext) -> None:
    await publish_examples(services, "event_wait")
    launched = await launch_run(services, workflow_id="event-wait", payload={"ticketId": "T-1001", "minAmount": 100})

    async def waiting() -> RunSummary | None:
        [row] = await list_runs(services, workflow_prefix="EVENT-")
        return row if row.wait_type == "event" else None

    row = await wait_until(waiting, what="the run to wait for its event")
    assert row.run_id == launched and row.status == "WAITING"
    assert (row.wait_event, row.wait_key) == ("ticket.approved", "T-1001")
