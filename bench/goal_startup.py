"""Start-up goals, each a fresh process timed from spawn by ``bench.startup``: the studio from spawn to its
first row painted (< 0.5 s at 1 M runs), and ``runstudio runs`` / ``show RUN`` / ``--help`` to exit (<= 0.3 s).

Bytecode as ``make install`` leaves it (``bench.startup``'s "compiled" variant: a pycache that ``compileall``
filled for the standard library, site-packages and the code). Median of a few processes after a warm-up.
"""

import asyncio
import shutil
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench.common import Bench, Result, ceiling_result
from bench.seeded import TENANT, seeded
from bench.startup import REPO, Target, Variant, compile_bytecode, import_top, process_env, time_command, time_studio


def _median(measure: Callable[[], float], repeat: int) -> tuple[float, float, float]:
    measure()  # warm-up: page cache, Postgres buffers
    samples = [measure() for _ in range(repeat)]
    return statistics.median(samples), min(samples), max(samples)


def _measure(target: Target, repeat: int, runs: int, imports: bool) -> list[Result]:
    compile_bytecode([REPO])
    home = Path(tempfile.mkdtemp(prefix="runstudio-bench-home-", dir="/tmp"))
    variant = Variant("compiled", REPO, compiled=True)
    env = process_env(target, variant, home)
    tenant = ["--tenant", target.tenant]
    cases: list[tuple[str, float, Callable[[], float]]] = [
        (
            f"studio start -> rows ({runs:,} runs)",
            0.5,
            lambda: time_studio([*tenant, "tui"], env, home, target.run_id[:8]),
        ),
        ("CLI runstudio runs", 0.3, lambda: time_command([*tenant, "runs"], env, home)),
        ("CLI runstudio show RUN", 0.3, lambda: time_command([*tenant, "show", target.run_id], env, home)),
        ("CLI runstudio --help", 0.3, lambda: time_command(["--help"], env, home)),
    ]
    results = []
    for name, goal, measure in cases:
        median, low, high = _median(measure, repeat)
        note = f"median of {repeat} processes ({low:.3f}-{high:.3f} s), bytecode compiled"
        results.append(ceiling_result(name, median, goal, "s", note))
    if imports:
        import_top(target, variant, home)  # where the CLI's start-up goes: the 10 heaviest imports
    shutil.rmtree(home, ignore_errors=True)
    return results


async def startup_goals(bench: Bench) -> list[Result]:
    """Seed (or reuse) the runs, then time the processes on a thread (they are subprocesses)."""
    from bench.seeded import BIG_RUN_ID

    runs = bench.pick(100_000, 1_000_000)
    data = await seeded(bench, runs)
    endpoints = await bench.endpoints(data.url)
    target = Target(data.url, endpoints.temporal_address, TENANT, BIG_RUN_ID)
    return await asyncio.to_thread(_measure, target, bench.pick(2, 5), runs, bench.size != "quick")


GOALS = {"startup": startup_goals}
