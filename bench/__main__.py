"""``python -m bench``: one line per goal of issue 16 — measured, goal, ratio, met, the load average — and a
last line ``N/M goals met``.

Sizes: ``--quick`` (a CI-sized smoke: small counts, a 100,000-run read-model with 1,000 in the measured
tenant; its figures are printed, never asserted), the default (1 M runs, the issue's counts) and ``--full``
(adds fan-out to 10,000 runs, longer memory runs). ``--only NAME`` runs one goal group (``runtime``, ``hot``,
``expressions``, ``startup``, ``studio``, ``fanout``) or the group holding the line whose name starts with NAME.

Services: an embedded Postgres whose data dir stays in ``$RUNSTUDIO_BENCH_CACHE`` (default
``/tmp/runstudio-bench-cache``; the seeded read-models are reused) and an in-memory Temporal dev server with
the fast dispatch setting, both started once for the whole run.
"""

import argparse
import asyncio
import gc
import os
import sys
import time
from collections.abc import Awaitable, Callable

from bench import goal_expressions, goal_fanout, goal_hot, goal_runtime, goal_startup, goal_studio
from bench.common import Bench, Result, Size, format_line, load, not_measured

GoalFn = Callable[[Bench], Awaitable[list[Result]]]

GROUPS: dict[str, GoalFn] = {
    **goal_runtime.GOALS,
    **goal_hot.GOALS,
    **goal_expressions.GOALS,
    **goal_startup.GOALS,
    **goal_studio.GOALS,
    **goal_fanout.GOALS,
}
"""Every goal group, in the order the table prints them."""


def select(only: str | None) -> list[str]:
    """The groups to run for ``--only`` (all of them without it)."""
    if only is None:
        return list(GROUPS)
    if only in GROUPS:
        return [only]
    for group, names in LINE_NAMES.items():
        if any(name.startswith(only) for name in names):
            return [group]
    raise SystemExit(f"no goal named {only!r}; groups: {', '.join(GROUPS)}")


LINE_NAMES: dict[str, tuple[str, ...]] = {
    "runtime": ("overhead 10 steps", "overhead 50 steps", "throughput 50 concurrent", "worker RSS"),
    "hot": ("per-step run update HOT",),
    "expressions": ("expressions vs JSONata JS",),
    "startup": ("studio start", "CLI runstudio runs", "CLI runstudio show", "CLI runstudio --help"),
    "studio": (
        "studio status filter",
        "studio search",
        "studio 10 page-downs",
        "studio one page-down",
        "studio open 500-step run",
        "studio RSS",
        "studio idle CPU",
    ),
    "fanout": ("fan-out",),
}
"""The lines each group prints (what ``--only`` matches a line name against)."""


async def run(size: Size, groups: list[str], only: str | None) -> list[Result]:
    """Run ``groups``, printing each line as it is measured; a group that fails prints why and goes on."""
    bench = Bench(size)
    results: list[Result] = []
    try:
        for group in groups:
            began = time.perf_counter()
            try:
                got = await GROUPS[group](bench)
            except Exception as exc:  # one broken goal must not hide the others' figures
                got = [not_measured(group, "—", f"{type(exc).__name__}: {str(exc)[:300]}")]
            if only is not None and only not in GROUPS:
                got = [r for r in got if r.name.startswith(only)] or got
            for result in got:
                print(format_line(result), flush=True)
            print(f"  ({group}: {time.perf_counter() - began:.0f} s)", file=sys.stderr, flush=True)
            results.extend(got)
    finally:
        await bench.close()
    return results


def cli(argv: list[str] | None = None) -> int:
    """Parse the size and the selection, run the goals and print the summary; the exit status (0)."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    sizes = parser.add_mutually_exclusive_group()
    sizes.add_argument("--quick", action="store_true", help="CI-sized smoke (printed, not asserted)")
    sizes.add_argument("--full", action="store_true", help="the largest sizes (fan-out to 10,000 runs)")
    parser.add_argument("--only", metavar="NAME", help="one goal group, or the group of a line name")
    options = parser.parse_args(argv)
    size: Size = "quick" if options.quick else "full" if options.full else "default"
    groups = select(options.only)
    print(
        f"python -m bench{' --' + size if size != 'default' else ''}: size {size}, load {load()}, "
        f"{os.cpu_count()} cores; Temporal dev server in memory with transferProcessorMaxPollRPS=1000",
        flush=True,
    )
    results = asyncio.run(run(size, groups, options.only))
    gc.collect()  # with the flush and os._exit in main: avoids the SDK's crash at interpreter exit (STACK-NOTES)
    met = sum(r.met for r in results)
    print(f"{met}/{len(results)} goals met (load {load()})", flush=True)
    return 0


def main() -> None:
    """The entry point: ``cli`` and then ``os._exit`` (short processes using the Temporal SDK can crash at exit)."""
    code = cli()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
