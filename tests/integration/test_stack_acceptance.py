"""The foundation's operator flow on the embedded stack, exactly as a person would type it."""

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil

from tests.conftest import cli_env
from tests.helpers import runstudio


def processes_of(home: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            if proc.info["status"] != psutil.STATUS_ZOMBIE and str(home) in " ".join(proc.info["cmdline"] or []):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def test_services_start_migrate_twice_doctor_names_the_missing_poller_then_stop_leaves_nothing() -> None:
    home = Path(tempfile.mkdtemp(prefix="runstudio-accept-", dir="/tmp")) / "stack"
    base = {
        k: v
        for k, v in cli_env(RUNSTUDIO_HOME=str(home)).items()
        if k not in ("RUNSTUDIO_DATABASE_URL", "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE")
    }
    try:
        started = runstudio("services", "start", "--print-env", env=base)
        assert started.returncode == 0, started.stderr
        exports = dict(
            shlex.split(line.removeprefix("export "))[0].split("=", 1) for line in started.stdout.splitlines()
        )
        assert set(exports) == {"RUNSTUDIO_DATABASE_URL", "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_UI_URL"}
        env = {**base, **exports}

        first = runstudio("migrate", env=env)
        assert first.returncode == 0, first.stderr
        assert "applied 0001_schema" in first.stdout
        second = runstudio("migrate", env=env)
        assert second.returncode == 0, second.stderr
        assert second.stdout.startswith("Database schema is current")

        doctor = runstudio("doctor", env=env)
        assert doctor.returncode == 1
        lines = doctor.stdout.splitlines()
        assert any(line.startswith("ok   database") for line in lines)
        assert any(line.startswith("ok   migrations") for line in lines)
        assert any(line.startswith("ok   temporal") for line in lines)
        assert any(line.startswith("ok   search attributes") for line in lines), lines
        workers = next(line for line in lines if "workers" in line)
        assert workers.startswith("FAIL")
        assert "no worker polls task queue workflow-runtime-v2" in workers
        assert "runstudio worker" in workers

        stopped = runstudio("services", "stop", env=base)
        assert stopped.returncode == 0, stopped.stderr
        assert processes_of(home) == []
    finally:
        runstudio("services", "stop", env=base)
        shutil.rmtree(home.parent, ignore_errors=True)
    assert not os.path.exists(home.parent)


def test_up_starts_everything_loads_demo_runs_and_stops_what_it_started_on_ctrl_c() -> None:
    import json
    import signal
    import time

    home = Path(tempfile.mkdtemp(prefix="runstudio-up-", dir="/tmp")) / "stack"
    env = {
        k: v
        for k, v in cli_env(RUNSTUDIO_HOME=str(home)).items()
        if k not in ("RUNSTUDIO_DATABASE_URL", "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE")
    }
    up = subprocess.Popen(
        [sys.executable, "-c", "from runstudio.cli import main; main()", "up", "--headless"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert up.stdout is not None
        lines = []
        deadline = time.monotonic() + 90
        while not any("Press Ctrl-C" in line for line in lines):
            assert time.monotonic() < deadline, lines
            line = up.stdout.readline()
            assert line, f"up exited early: {up.stderr.read() if up.stderr else ''}"
            lines.append(line)
        assert any("Demo data" in line for line in lines)
        assert any("polling task queue workflow-runtime-v2" in line for line in lines)
        assert any(line.startswith("  Temporal UI  http://127.0.0.1:") for line in lines), lines

        def succeeded() -> int:
            listed = runstudio("runs", "--json", "--status", "SUCCEEDED", env=env)
            return len(json.loads(listed.stdout)) if listed.returncode == 0 else 0

        while succeeded() < 5:
            assert time.monotonic() < deadline, "the demo runs did not complete"
            time.sleep(0.5)
        up.send_signal(signal.SIGINT)
        assert up.wait(timeout=60) == 0
        assert processes_of(home) == []
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGKILL)
        runstudio("services", "stop", env=env)
        shutil.rmtree(home.parent, ignore_errors=True)
