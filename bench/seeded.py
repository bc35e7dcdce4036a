"""The seeded read-model the studio and CLI goals run against: N runs over 100 tenants, plus one 500-step run.

Seeded with ``bench.runs_list_queries``' ``INSERT … SELECT generate_series`` (1 M runs in well under a minute)
into a database kept in the bench cache, so later runs of ``python -m bench`` reuse it. The measured tenant
is ``tenant-0`` (1 % of the runs: 10,000 of 1 M); its newest run has ``BIG_RUN_STEPS`` step rows, for "open a
500-step run".
"""

import time
from dataclasses import dataclass

from bench.common import Bench

TENANT = "tenant-0"
BIG_RUN_ID = "00000000-0000-4000-8000-000000000500"
BIG_RUN_STEPS = 500

BIG_RUN = """
INSERT INTO workflow_runs (tenant, run_id, workflow_id, workflow_version, status, trigger, started_at, updated_at,
                           completed_at, step_count, definition_hash)
VALUES ($1, $2::uuid, 'wf-big', 1, 'SUCCEEDED', 'manual', now(), now(), now() + interval '5 seconds', $3,
        repeat('b', 64))
ON CONFLICT DO NOTHING
"""

BIG_RUN_STEP_ROWS = """
INSERT INTO workflow_run_steps (tenant, run_id, seq, path, step_id, step_type, status, started_at)
SELECT $1, $2::uuid, s, 'root.steps[' || s || ']', 'step-' || s, 'action.call', 'SUCCEEDED', now()
  FROM generate_series(1, $3) AS s
ON CONFLICT DO NOTHING
"""


@dataclass(frozen=True)
class Seeded:
    """A seeded database and how many runs it holds."""

    url: str
    runs: int
    seconds: float
    """Seconds spent seeding in this run (0: reused from the cache)."""


async def seeded(bench: Bench, runs: int) -> Seeded:
    """The database with ``runs`` runs: reused from the cache when it is complete and fully migrated, else
    created, migrated and seeded now.

    A cached database is never migrated again: ``migrate`` also seals every plaintext run input (0007), one
    batch of 200 at a time, which over 1 M seeded runs takes hours. A new migration means a fresh seed.
    """
    from bench.runs_list_queries import SEED, SEED_WHY
    from engine.store import migrations
    from engine.store.db import connect

    name = f"bench_seed_{runs}"
    if name in bench.seeded_urls:
        return Seeded(bench.seeded_urls[name], runs, 0.0)
    began = time.perf_counter()
    url = bench.postgres_url(name)
    reuse = False
    admin = await connect(bench.postgres_url("postgres"))
    try:
        if await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            conn = await connect(url)
            try:
                complete = await conn.fetchval("SELECT to_regclass('bench_seeded') IS NOT NULL")
                reuse = bool(complete) and not await migrations.pending(conn)
            finally:
                await conn.close()
    finally:
        await admin.close()
    if reuse:
        bench.seeded_urls[name] = url
        return Seeded(url, runs, 0.0)
    url = await bench.database(name, fresh=True)
    conn = await connect(url)
    try:
        await conn.execute(SEED, runs)
        await conn.execute(SEED_WHY)
        await conn.execute(BIG_RUN, TENANT, BIG_RUN_ID, BIG_RUN_STEPS)
        await conn.execute(BIG_RUN_STEP_ROWS, TENANT, BIG_RUN_ID, BIG_RUN_STEPS)
        await conn.execute("CREATE TABLE bench_seeded (runs bigint)")  # the mark of a complete seed
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    bench.seeded_urls[name] = url
    return Seeded(url, runs, time.perf_counter() - began)
