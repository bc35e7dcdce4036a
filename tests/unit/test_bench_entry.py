"""``python -m bench``: one line per goal and the ``N/M goals met`` summary — never a time asserted.

The first tests swap the goal groups for stubs (the printing, ``--only`` and a failing group); the last runs
the real quick size end to end in a subprocess, against its own embedded Postgres cache.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import bench.__main__ as entry
from bench.common import Bench, Result, ceiling_result, format_line, not_measured, ratio_result

REPO = Path(__file__).resolve().parents[2]


async def _two(bench: Bench) -> list[Result]:
    return [
        ratio_result("overhead 10 steps", 1.2, 1.0, 1.3, f"size {bench.size}"),
        ceiling_result("CLI runstudio runs", 0.4, 0.3, "s"),
    ]


async def _broken(_: Bench) -> list[Result]:
    raise RuntimeError("no server")


def test_one_line_per_goal_and_the_summary(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(entry, "GROUPS", {"runtime": _two, "fanout": _broken})
    assert entry.cli(["--quick"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("python -m bench --quick: size quick, load ")
    assert lines[1].startswith("overhead 10 steps") and " met " in lines[1] and "size quick" in lines[1]
    assert lines[2].startswith("CLI runstudio runs") and "NOT met" in lines[2]
    # A group that fails says why on its line and counts as not met; the others still print.
    assert lines[3].startswith("fanout") and "not measured: RuntimeError: no server" in lines[3]
    assert lines[4].startswith("1/3 goals met (load ")


def test_only_runs_the_group_of_a_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(entry, "GROUPS", {"runtime": _two, "fanout": _broken})
    entry.cli(["--only", "overhead 10"])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("  ")[0] for line in lines[1:-1]] == ["overhead 10 steps"]
    assert lines[-1].startswith("1/1 goals met")
    with pytest.raises(SystemExit):
        entry.select("no such goal")


def test_a_line_reads_measured_goal_ratio_and_load() -> None:
    line = format_line(ratio_result("throughput 50 concurrent", 60.0, 80.0, 0.8, "60 vs 80", at_least=True))
    assert "0.75x" in line and ">= 0.80x" in line and "NOT met" in line and "load " in line
    assert "—" in format_line(not_measured("x", "<= 1 s", "no terminal"))


@pytest.mark.timeout(1800)
def test_the_quick_size_runs_end_to_end() -> None:
    """Every goal's line and the summary come out of the real quick run (figures printed, not asserted)."""
    cache = Path(tempfile.mkdtemp(prefix="runstudio-bench-test-", dir="/tmp"))
    os.chmod(cache, 0o755)  # embedded Postgres runs as another user and must reach its data dir
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bench", "--quick"],
            cwd=REPO,
            env={**os.environ, "RUNSTUDIO_BENCH_CACHE": str(cache)},
            capture_output=True,
            text=True,
            timeout=1700,
        )
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    expected = [name for names in entry.LINE_NAMES.values() for name in names]
    for name in expected:
        found = [line for line in lines if line.startswith(name)]
        assert len(found) == 1, f"{name!r}: {found or lines}"
        assert "not measured" not in found[0], found[0]
    assert lines[-1].split(" goals met")[0].endswith(f"/{len(expected)}"), lines[-1]
