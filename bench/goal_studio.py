"""Studio goals at 1 M runs, driving the real app headless with Textual's pilot against the seeded read-model:

* interactions, each from the key press to the table showing the new rows (<= 100 ms): a status filter, a
  search (from the last key: the search's own debounce counts), 10 page-downs, one page-down (median of single
  presses), opening a 500-step run;
* memory: RSS after the first page vs after scrolling ``SCROLL_ROWS`` rows and refreshing for a while (flat,
  +-10 %); idle CPU at that position (< 2 % of a core).

"Updated" is read from the app's own state: the runs screen has merged the page answering the current query
(``_shown_query == query_filters``) and no loading worker is running; the run screen has its ``detail``.
The app runs in this process (headless), so RSS and CPU are this process's: the app, its pool and the
bench harness, which is idle while they are read.

Each key goes through ``Pilot.press``, which after every key waits twice for the process to be idle
(``textual._wait.wait_for_idle``: at least two 20 ms sleeps, longer while the app works). That floor is part of
every figure; it is measured beside them (a key the app ignores, timed the same way) and printed in their notes,
never subtracted.
"""

import asyncio
import gc
import statistics
import time
from collections.abc import Callable

import psutil

from bench.common import Bench, Result, ceiling_result
from bench.seeded import BIG_RUN_STEPS, TENANT, seeded

GOAL_MS = 100.0
SETTLE_TIMEOUT = 30.0
LOADING_GROUPS = frozenset({"runs-first", "runs-more", "run-detail"})
IGNORED_KEY = "f19"
"""A key nothing in the studio binds: timing it measures the pilot's own floor per key."""


async def _until(check: Callable[[], bool], what: str) -> None:
    """Poll ``check`` every 2 ms (the app runs meanwhile) until it holds."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the studio did not settle: {what}")
        await asyncio.sleep(0.002)


def _loading(app: object) -> bool:
    return any(w.group in LOADING_GROUPS and not w.is_finished for w in app.workers)  # type: ignore[attr-defined]


async def studio_goals(bench: Bench) -> list[Result]:
    """The four interactions, then memory and idle CPU, in one headless studio."""
    from engine.services.context import ServiceContext
    from studio_tui.app import RunStudioApp
    from studio_tui.screens.runs import RunsScreen
    from studio_tui.widgets.keyed_table import KeyedTable

    runs = bench.pick(100_000, 1_000_000)
    data = await seeded(bench, runs)
    endpoints = await bench.endpoints(data.url)
    pool = await bench.pool(data.url)
    ctx = ServiceContext(pool, endpoints, TENANT, keyring=bench.keyring)
    app = RunStudioApp(ctx)
    repeat = bench.pick(3, 7)
    scale = f"{runs:,} runs, tenant {TENANT}"
    results: list[Result] = []
    async with app.run_test(size=(120, 40)) as pilot:
        await _until(lambda: isinstance(app.screen, RunsScreen) and app.screen._loaded_once, "first page")
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        table = screen.query_one(KeyedTable)

        def settled() -> bool:
            return screen._shown_query == screen.query_filters and not _loading(app)

        async def timed_keys(*keys: str) -> float:
            began = time.perf_counter()
            await pilot.press(*keys)
            await _until(settled, f"after {keys}")
            return (time.perf_counter() - began) * 1000

        # The pilot's floor: a key the app ignores, pressed and awaited like the keys below.
        floors = [await timed_keys(IGNORED_KEY) for _ in range(repeat + 2)][2:]  # the first presses warm up
        floor = f"pilot floor {statistics.median(floors):.0f} ms a key (median of {len(floors)}, an ignored key)"

        # Status filter: 2–6 are one status each, 1 is all; each press is a new query.
        samples = [await timed_keys(key) for key in ("3", "4", "5", "6", "2", "1", "4", "1")[: repeat + 1]]
        results.append(_line("studio status filter", samples, f"keys 1-6, {scale}; {floor}"))

        # Search: time from the last key of a two-character run-id prefix (the debounce is part of it).
        samples = []
        for prefix in ("3f", "a1", "7c", "0d", "e5", "9b", "42")[:repeat]:
            await pilot.press("slash", prefix[0])
            samples.append(await timed_keys(prefix[1]))
            await pilot.press("escape")
            await _until(lambda: screen.search == "" and settled(), "search cleared")
        results.append(_line("studio search", samples, f"2-char run-id prefix, from the last key, {scale}; {floor}"))

        samples = []
        for _ in range(repeat):
            await pilot.press("2")
            await _until(settled, "filter 2")
            await pilot.press("1")
            await _until(settled, "filter 1")
            samples.append(await timed_keys(*["pagedown"] * 10))
        results.append(
            _line("studio 10 page-downs", samples, f"from the top, incl. the pages fetched, {scale}; {floor} x 10")
        )

        # One page-down: each of 10 presses from the top timed on its own (the pages read ahead included).
        samples = []
        for _ in range(repeat):
            await pilot.press("2")
            await _until(settled, "filter 2")
            await pilot.press("1")
            await _until(settled, "filter 1")
            samples.extend([await timed_keys("pagedown") for _ in range(10)])
        results.append(
            _line("studio one page-down", samples, f"each of 10 from the top, incl. the pages read ahead; {floor}")
        )

        async def painted() -> None:
            # Until the screen has drawn a frame with the run on it, not merely received it.
            frame = asyncio.get_running_loop().create_future()
            app.screen.call_after_refresh(lambda: frame.done() or frame.set_result(None))
            await asyncio.wait_for(frame, SETTLE_TIMEOUT)

        samples = []
        for _ in range(repeat):
            await pilot.press("t")
            began = time.perf_counter()
            await pilot.press("enter")
            await _until(lambda: getattr(app.screen, "detail", None) is not None, "run detail")
            await painted()
            samples.append((time.perf_counter() - began) * 1000)
            await pilot.press("escape")
            await _until(lambda: app.screen is screen, "back to the list")
        results.append(
            _line("studio open 500-step run", samples, f"{BIG_RUN_STEPS} step rows, to the first paint, {scale}")
        )

        results.extend(await _memory_and_idle(bench, pilot, screen, table, settled))
    return results


def _line(name: str, samples: list[float], note: str) -> Result:
    median = statistics.median(samples)
    return ceiling_result(
        name, median, GOAL_MS, "ms", f"median of {len(samples)} ({min(samples):.0f}-{max(samples):.0f} ms), {note}"
    )


async def _memory_and_idle(
    bench: Bench, pilot: object, screen: object, table: object, settled: Callable[[], bool]
) -> list[Result]:
    """RSS before and after scrolling and refreshing; then CPU while idle at that position."""
    me = psutil.Process()
    rows = bench.pick(800, 5_000)
    refresh_s = bench.pick(6, 60, 600)
    idle_s = bench.pick(6, 30, 60)
    gc.collect()
    before = me.memory_info().rss / 2**20
    held_before = table.row_count  # type: ignore[attr-defined]
    most_held = held_before
    table.focus()  # type: ignore[attr-defined]
    # Page down through the list (End would jump to the oldest run): the window reads pages ahead and drops rows
    # behind, so the position is the cursor's place in the whole list, not in the table.
    for _ in range(rows):
        position = screen.list_position  # type: ignore[attr-defined]
        if position is None or position >= rows or (screen._exhausted and table.cursor_row >= table.row_count - 1):  # type: ignore[attr-defined]
            break
        await pilot.press("pagedown")  # type: ignore[attr-defined]
        await _until(settled, "scrolling")
        most_held = max(most_held, table.row_count)  # type: ignore[attr-defined]
    reached = screen.list_position  # type: ignore[attr-defined]
    held_after = table.row_count  # type: ignore[attr-defined]
    await asyncio.sleep(refresh_s)  # the list refreshes itself every 2 s meanwhile
    gc.collect()
    after = me.memory_info().rss / 2**20
    growth = (after - before) / before * 100
    cpu_before = me.cpu_times()
    wall = time.perf_counter()
    await asyncio.sleep(idle_s)
    cpu_after = me.cpu_times()
    busy = (cpu_after.user + cpu_after.system - cpu_before.user - cpu_before.system) / (time.perf_counter() - wall)
    return [
        Result(
            f"studio RSS scrolling {rows:,} rows",
            growth,
            10.0,
            abs(growth) / 10.0,
            abs(growth) <= 10.0,
            f"RSS {before:.0f} -> {after:.0f} MB: rows held {held_before:,} -> {held_after:,} (most {most_held:,}), "
            f"page-downs to row {reached:,} of the list, then {refresh_s} s of refreshes"
            + ("" if refresh_s >= 600 else " (not the goal's 10 min: --full)"),
            "%",
            "flat +-10 %",
        ),
        Result(
            "studio idle CPU",
            busy * 100,
            2.0,
            busy * 100 / 2.0,
            busy * 100 < 2.0,
            f"over {idle_s} s at row {reached:,} of the list (refresh every 2 s, health checks on), % of one core",
            "%",
            "< 2 % of a core",
        ),
    ]


GOALS = {"studio": studio_goals}
