"""Start-up, side by side in one run: ``runstudio --help``, ``runs --help``, ``runs``, ``show`` and the studio.

Each case is a fresh process, timed from spawn to exit (the studio: from spawn to the first row's run id
reaching its terminal, read from a pseudo-terminal, then the studio is stopped). Median of ``--repeat``
with the range, for every code tree and bytecode variant:

* ``installed``: the interpreter as this checkout has it, writing no bytecode (as with
  ``PYTHONDONTWRITEBYTECODE=1``): whatever ``__pycache__`` exists is used, nothing else;
* ``compiled``: ``PYTHONPYCACHEPREFIX`` at a cache that ``compileall`` filled for the standard library,
  site-packages and the code tree (what ``make install`` and the Docker image now provide).

``--before REF`` adds the code of a git commit (``git archive``, read-only) as a second tree on the same
venv, database and Temporal. Services: ``RUNSTUDIO_DATABASE_URL`` and ``TEMPORAL_ADDRESS`` from the
environment (``--tenant`` names whose runs), else the embedded stack in a temporary home, seeded with
``--runs`` runs over 100 tenants (``bench.runs_list_queries``' data; the measured tenant holds 1 %).
Last, ``-X importtime``'s top 10 modules of ``runstudio runs``. Usage::

    .venv/bin/python -m bench.startup [--repeat 5] [--runs 1000000] [--before HEAD]
"""

import argparse
import asyncio
import contextlib
import fcntl
import os
import pty
import re
import select
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import sysconfig
import tempfile
import termios
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncpg

REPO = Path(__file__).resolve().parents[1]
CODE_DIRS = ("engine", "worker", "runstudio", "studio_tui", "migrations")
PYCACHE = Path(tempfile.gettempdir()) / "runstudio-bench-pycache"
"""Kept between runs: ``compileall`` then only compiles what changed."""

ENTRY = "import sys; sys.argv[0] = 'runstudio'; from runstudio.cli import main; main()"
"""What the ``runstudio`` console script runs, importable from whichever tree is first on ``PYTHONPATH``."""

IMPORT_MODULE_SEEN = (
    "import importlib as _il, sys as _sys\n"
    "def _import_module(name, package=None):\n"
    "    if package is None and not name.startswith('.'):\n"
    "        __import__(name)\n"
    "        return _sys.modules[name]\n"
    "    return _original(name, package)\n"
    "_original = _il.import_module\n"
    "_il.import_module = _import_module\n"
)
"""Prefixed to ``ENTRY`` under ``-X importtime``: ``importlib.import_module`` (how the CLI registers its command
modules) bypasses what ``-X importtime`` reports, so their own time would be charged to ``runstudio.cli``;
routed through ``__import__`` each module is listed with its own time."""

STUDIO_TIMEOUT = 30.0
_IMPORT_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)$")


@dataclass(frozen=True)
class Target:
    """Where the services are, and whose runs the commands show."""

    database_url: str
    temporal_address: str
    tenant: str
    run_id: str
    """The newest run of the tenant: the first row of the studio and of ``runs``."""


@dataclass(frozen=True)
class Variant:
    """One column of the table: a code tree run with or without compiled bytecode."""

    label: str
    tree: Path
    compiled: bool


def process_env(target: Target, variant: Variant, home: Path) -> dict[str, str]:
    """The environment a measured process gets: the services, the tree first on the path, bytecode or not."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNSTUDIO_", "TEMPORAL_", "PYTHON"))}
    env.update(
        RUNSTUDIO_DATABASE_URL=target.database_url,
        TEMPORAL_ADDRESS=target.temporal_address,
        TEMPORAL_NAMESPACE="default",
        RUNSTUDIO_HOME=str(home),
        PYTHONPATH=str(variant.tree),
        TERM="xterm-256color",
        COLORTERM="truecolor",
    )
    if variant.compiled:
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def time_command(args: list[str], env: dict[str, str], cwd: Path) -> float:
    """Seconds from spawn to exit of one ``runstudio`` invocation (which must succeed)."""
    began = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", ENTRY, *args], env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - began
    if result.returncode != 0:
        raise RuntimeError(f"runstudio {' '.join(args)} exited {result.returncode}: {result.stderr.strip()[-500:]}")
    return elapsed


def time_studio(args: list[str], env: dict[str, str], cwd: Path, needle: str) -> float:
    """Seconds from spawn until ``needle`` (the first row's short run id) is written to the studio's terminal."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
    began = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", ENTRY, *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        cwd=cwd,
        start_new_session=True,
    )
    os.close(slave)
    wanted = needle.encode()
    tail = b""
    painted: float | None = None
    try:
        while painted is None and time.perf_counter() - began < STUDIO_TIMEOUT:
            ready, _, _ = select.select([master], [], [], 0.05)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 1 << 16)
            except OSError:
                break
            # The id can straddle two reads; keeping a short tail finds it without rescanning everything.
            window = tail + chunk
            if wanted in window:
                painted = time.perf_counter() - began
            tail = window[-len(wanted) :]
    finally:
        _stop(proc, master)
    if painted is None:
        raise RuntimeError(f"the studio did not show {needle} within {STUDIO_TIMEOUT:.0f} s")
    return painted


def _stop(proc: subprocess.Popen[bytes], master: int) -> None:
    for sig, grace in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
        if proc.poll() is not None:
            break
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + grace
        while proc.poll() is None and time.monotonic() < deadline:
            # Keep draining: a full terminal buffer would block the app's exit.
            if select.select([master], [], [], 0.05)[0]:
                with contextlib.suppress(OSError):
                    os.read(master, 1 << 16)
    proc.wait()
    os.close(master)


def compile_bytecode(trees: list[Path]) -> None:
    """Fill ``PYCACHE`` for the standard library, site-packages and the code trees (only stale files)."""
    paths = sysconfig.get_paths()
    roots = [paths["stdlib"], paths["purelib"], paths["platlib"], *(str(t / d) for t in trees for d in CODE_DIRS)]
    # Warnings off: the standard library's own test data holds deliberate oddities compile() warns about.
    env = {**os.environ, "PYTHONPYCACHEPREFIX": str(PYCACHE), "PYTHONWARNINGS": "ignore"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    began = time.perf_counter()
    # -q -q: a few vendored test files do not compile on purpose; they are never imported.
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "-q", "-j", "0", *dict.fromkeys(roots)], env=env, check=False
    )
    print(f"bytecode cache {PYCACHE} up to date ({time.perf_counter() - began:.1f} s)")


def export_tree(ref: str, into: Path) -> Path:
    """The code of commit ``ref`` (its packages only), written by ``git archive`` without touching the repo."""
    into.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", ref, *CODE_DIRS], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


async def seeded_stack(home: Path, runs: int) -> Target:
    """The embedded stack of ``home``, migrated and seeded with ``runs`` runs over 100 tenants."""
    from bench.runs_list_queries import SEED, SEED_WHY
    from engine import devstack
    from engine.store import migrations
    from engine.store.db import connect

    began = time.perf_counter()
    endpoints = await asyncio.to_thread(devstack.start, home)
    conn = await connect(endpoints.database_url)
    try:
        await migrations.migrate(conn)
        await conn.execute(SEED, runs)
        await conn.execute(SEED_WHY)
        await conn.execute("VACUUM ANALYZE")
        target = await _target(conn, endpoints.database_url, endpoints.temporal_address, "tenant-0")
    finally:
        await conn.close()
    print(f"embedded stack started, {runs:,} runs seeded over 100 tenants in {time.perf_counter() - began:.1f} s")
    return target


async def configured_stack(tenant: str) -> Target:
    """The services the environment names (nothing is seeded)."""
    from engine.store.db import connect

    url = os.environ["RUNSTUDIO_DATABASE_URL"]
    conn = await connect(url)
    try:
        return await _target(conn, url, os.environ.get("TEMPORAL_ADDRESS", "127.0.0.1:7233"), tenant)
    finally:
        await conn.close()


async def _target(conn: "asyncpg.Connection", url: str, temporal_address: str, tenant: str) -> Target:
    newest = await conn.fetchrow(
        "SELECT run_id::text, (SELECT count(*) FROM workflow_runs WHERE tenant = $1) AS n "
        "FROM workflow_runs WHERE tenant = $1 ORDER BY started_at DESC, run_id DESC LIMIT 1",
        tenant,
    )
    if newest is None:
        raise SystemExit(f"tenant {tenant!r} has no runs to show")
    print(f"tenant {tenant}: {newest['n']:,} runs; newest {newest['run_id']}")
    return Target(url, temporal_address, tenant, newest["run_id"])


def import_top(target: Target, variant: Variant, home: Path) -> None:
    """``-X importtime`` of ``runstudio runs``: the 10 heaviest modules by own time and by cumulative time."""
    env = process_env(target, variant, home)
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", IMPORT_MODULE_SEEN + ENTRY, "--tenant", target.tenant, "runs"],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
    )
    rows = [
        (int(m.group(1)), int(m.group(2)), len(m.group(3)) // 2, m.group(4))
        for line in result.stderr.splitlines()
        if (m := _IMPORT_LINE.match(line))
    ]
    total = sum(own for own, _, _, _ in rows)
    print(f"\n-X importtime, `runstudio runs` ({variant.label}): {len(rows)} modules, {total / 1000:.0f} ms in all")
    print("  top 10 by own time                          top 10 top-level imports by cumulative time")
    by_own = sorted(rows, key=lambda r: -r[0])[:10]
    by_cumulative = sorted((r for r in rows if r[2] == 0), key=lambda r: -r[1])[:10]
    for own_row, cumulative_row in zip(by_own, by_cumulative, strict=False):
        left = f"{own_row[3][:34]:34} {own_row[0] / 1000:6.1f} ms"
        right = f"{cumulative_row[3][:34]:34} {cumulative_row[1] / 1000:6.1f} ms"
        print(f"  {left}    {right}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeat", type=int, default=5, help="measurements per case (median shown)")
    parser.add_argument("--runs", type=int, default=1_000_000, help="runs to seed in the embedded stack")
    parser.add_argument("--tenant", default="default", help="whose runs, when the services come from the env")
    parser.add_argument("--before", metavar="REF", help="also measure the code of this commit (e.g. HEAD)")
    parser.add_argument("--no-compiled", action="store_true", help="skip the compiled-bytecode columns")
    options = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="runstudio-startup-", dir="/tmp"))
    os.chmod(home, 0o755)  # embedded Postgres runs as another user and must reach its data dir
    started_stack = "RUNSTUDIO_DATABASE_URL" not in os.environ
    try:
        target = asyncio.run(seeded_stack(home, options.runs) if started_stack else configured_stack(options.tenant))
        trees = [("after", REPO)]
        if options.before:
            trees.insert(0, (f"before ({options.before})", export_tree(options.before, home / "before")))
        if not options.no_compiled:
            compile_bytecode([tree for _, tree in trees])
        variants = [
            Variant(f"{name}, {kind}", tree, kind == "compiled")
            for name, tree in trees
            for kind in ("installed", *(() if options.no_compiled else ("compiled",)))
        ]
        run(target, variants, home, options.repeat)
        import_top(target, variants[-1], home)
    finally:
        if started_stack:
            from engine import devstack

            devstack.stop(home)
        shutil.rmtree(home, ignore_errors=True)


def run(target: Target, variants: list[Variant], home: Path, repeat: int) -> None:
    """Measure every case in every variant, interleaved so that load drifts hit every column alike."""
    tenant = ["--tenant", target.tenant]
    cases: dict[str, Callable[[dict[str, str]], float]] = {
        "runstudio --help": lambda env: time_command(["--help"], env, home),
        "runstudio runs --help": lambda env: time_command(["runs", "--help"], env, home),
        "runstudio runs": lambda env: time_command([*tenant, "runs"], env, home),
        "runstudio show RUN": lambda env: time_command([*tenant, "show", target.run_id], env, home),
        "studio: start -> rows painted": lambda env: time_studio([*tenant, "tui"], env, home, target.run_id[:8]),
    }
    print(f"\nload average before: {_load()}; median of {repeat} (min-max), seconds, one fresh process each")
    header = f"{'case':30}" + "".join(f" | {v.label:>24}" for v in variants)
    print(header)
    print("-" * len(header))
    envs = [process_env(target, variant, home) for variant in variants]
    for name, measure in cases.items():
        for env in envs:
            measure(env)  # unmeasured warm-up: page cache, Postgres buffers
        samples: list[list[float]] = [[] for _ in variants]
        for _ in range(repeat):
            for column, env in zip(samples, envs, strict=True):
                column.append(measure(env))
        cells = [f"{statistics.median(c):.3f} ({min(c):.2f}-{max(c):.2f})" for c in samples]
        print(f"{name:30}" + "".join(f" | {c:>24}" for c in cells), flush=True)
    print(f"load average after: {_load()}")


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
