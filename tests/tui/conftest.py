"""Fixtures for studio tests: a seeded database, apps built on it, and a way to wait until an app has settled.

Two ways to build the app, because of event loops:

* Pilot tests are ``async`` and run in pytest-asyncio's session loop; ``app.run_test()`` runs the app in that
  same loop, so the app is given a ``ServiceContext`` on the ``db_pool`` fixture (as ``runstudio tui`` does).
* ``snap_compare`` is synchronous and starts the app with ``App.run()``, which on Python ≥ 3.10 always calls
  ``asyncio.run`` — a new loop, where a pool made in the session loop cannot be used. Snapshot apps are given
  a ``ServicesOpener`` instead and open their own pool inside that loop (and close it on exit).

Temporal is pointed at ``127.0.0.1:1`` (nothing listens there), so the header deterministically says
"Temporal down"; the clock is frozen at ``seed.NOW``.
"""

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
import pytest
from textual.pilot import Pilot
from textual.widgets import Input
from textual.worker import WorkerCancelled

from engine.services.context import ServiceContext
from engine.stack import Endpoints
from engine.store.db import connect, create_pool
from studio_tui.app import RunStudioApp, ServicesOpener
from studio_tui.screens.run_detail import RunDetailScreen
from tests.tui import seed

UNREACHABLE_TEMPORAL = "127.0.0.1:1"


@dataclass(frozen=True)
class Seeded:
    """A migrated database holding ``seed.seed_studio`` data."""

    url: str
    ids: dict[str, str]


def studio_services(pool: asyncpg.Pool, url: str) -> ServiceContext:
    """Services on ``pool`` for the seeded tenant, with Temporal unreachable and the clock frozen."""
    return ServiceContext(
        pool=pool,
        endpoints=Endpoints(url, UNREACHABLE_TEMPORAL, "default"),
        tenant=seed.TENANT,
        clock=seed.frozen_clock,
    )


def opener(url: str) -> ServicesOpener:
    """Opens a pool on ``url`` inside whatever loop the app runs in (for ``snap_compare``)."""

    @asynccontextmanager
    async def open_studio_services() -> AsyncIterator[ServiceContext]:
        pool = await create_pool(url, min_size=1, max_size=3)
        try:
            yield studio_services(pool, url)
        finally:
            await pool.close()

    return open_studio_services


def quiet(app: RunStudioApp) -> RunStudioApp:
    """No animations, so screenshots do not depend on timing."""
    app.animation_level = "none"
    return app


@pytest.fixture
async def seeded(migrated_database_url: str) -> Seeded:
    """A fresh database with the standard studio data."""
    conn = await connect(migrated_database_url)
    try:
        ids = await seed.seed_studio(conn)
    finally:
        await conn.close()
    return Seeded(migrated_database_url, ids)


@pytest.fixture
async def seeded_pool(db_pool: asyncpg.Pool) -> asyncpg.Pool:
    """``db_pool`` with the standard studio data."""
    await seed.seed_studio(db_pool)
    return db_pool


@pytest.fixture
def studio_app(seeded_pool: asyncpg.Pool, migrated_database_url: str) -> Callable[..., RunStudioApp]:
    """Builds an app on the seeded pool (for pilot tests, which share the pool's loop)."""

    def build(*, read_only: bool = False) -> RunStudioApp:
        return quiet(RunStudioApp(studio_services(seeded_pool, migrated_database_url), read_only=read_only))

    return build


async def settle(pilot: Pilot[None], *, until: Callable[[], bool] = lambda: True, timeout: float = 30.0) -> None:
    """Wait until every worker has finished, no new one has started, and ``until()`` holds."""
    app = pilot.app
    deadline = time.monotonic() + timeout
    quiet_rounds = 0
    while quiet_rounds < 2:
        await pilot.pause()
        # An exclusive worker replaced by a newer one (a refresh that came due on a slow machine) ends
        # cancelled: that is the app working as designed, and the next round waits for its successor.
        with contextlib.suppress(WorkerCancelled):
            await app.workers.wait_for_complete()
        await pilot.pause()
        busy = any(not worker.is_finished for worker in app.workers)
        quiet_rounds = 0 if busy or not until() else quiet_rounds + 1
        if time.monotonic() > deadline:
            raise AssertionError("the app did not settle")
    for field in app.query(Input):
        field.cursor_blink = False


def settled(until: Callable[[RunStudioApp], bool] = lambda app: True) -> Callable[[Pilot[None]], Awaitable[None]]:
    """A ``run_before`` for ``snap_compare`` that waits for ``settle``."""

    async def run_before(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, RunStudioApp)
        await settle(pilot, until=lambda: until(app))

    return run_before


def run_screen(app: RunStudioApp) -> RunDetailScreen:
    """The run screen on top of the app (the test fails if another screen is)."""
    screen = app.screen
    assert isinstance(screen, RunDetailScreen), screen
    return screen


def loaded(app: RunStudioApp, run_id: str) -> Callable[[], bool]:
    """The run screen of ``run_id`` is on top and has its detail."""

    def check() -> bool:
        screen = app.screen
        return isinstance(screen, RunDetailScreen) and screen.run_id == run_id and screen.detail is not None

    return check
