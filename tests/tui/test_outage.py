"""The studio with Postgres down: one sentence naming Postgres, its socket and the fix, under the filter bar."""

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from textual.widgets import Static

from engine.services.context import ServiceContext
from engine.stack import Endpoints
from engine.store.db import create_pool
from studio_tui.app import RunStudioApp
from studio_tui.screens.inbox import InboxScreen
from studio_tui.screens.run_detail import RunDetailScreen
from studio_tui.screens.runs import RunsScreen
from tests.tui import seed
from tests.tui.conftest import UNREACHABLE_TEMPORAL, quiet, settle


@pytest.fixture
def silent_socket_dir(tmp_path: Path) -> Path:
    """A directory where a Postgres socket would be, with nothing listening (as after Postgres stopped)."""
    socket_dir = tmp_path / "pg"
    socket_dir.mkdir()
    return socket_dir


@pytest.fixture
def dead_url(silent_socket_dir: Path) -> str:
    """A database URL (with a password that must never be shown) for that silent socket."""
    return f"postgresql://postgres:s3cret@/runstudio?host={silent_socket_dir}"


@pytest.fixture
async def dead_pool(dead_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool that opened no connection yet, so every query meets the missing server."""
    pool = await create_pool(dead_url, min_size=0)
    yield pool
    await pool.close()


def text_of(screen: RunsScreen, selector: str) -> str:
    widget = screen.query_one(selector, Static)
    return str(widget.content) if widget.display else ""


async def test_postgres_down_is_one_sentence_below_a_whole_filter_bar(
    dead_pool: asyncpg.Pool, dead_url: str, silent_socket_dir: Path
) -> None:
    services = ServiceContext(
        pool=dead_pool,
        endpoints=Endpoints(dead_url, UNREACHABLE_TEMPORAL, "default"),
        tenant=seed.TENANT,
        clock=seed.frozen_clock,
    )
    app = quiet(RunStudioApp(services))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        await settle(pilot, until=lambda: screen.problem is not None and app.health.checked)

        problem = text_of(screen, "#runs-problem")
        assert f"Postgres at {silent_socket_dir} (socket) is unreachable: connection refused" in problem
        assert "Run `runstudio doctor` to see what is down." in problem
        assert "Errno" not in problem and "s3cret" not in problem

        # The filter bar keeps its whole row: every status key is there and nothing is drawn over it.
        filters = screen.query_one("#status-filters", Static)
        bar = screen.query_one("#filter-bar").region
        line = screen.query_one("#runs-problem", Static).region
        assert all(label in str(filters.content) for label in ("All", "Running", "Waiting", "Canceled"))
        assert filters.region.width >= len(str(filters.content))
        assert line.y >= bar.bottom and line.height >= 2  # wrapped in full at 80 columns, not cut
        assert "Postgres" not in str(screen.query_one("#runs-count", Static).content)

        header = str(screen.query_one("#header-health", Static).content)
        assert "✗ database down" in header and "✗ Temporal down" in header


async def test_the_run_and_inbox_screens_say_the_same_sentence(dead_pool: asyncpg.Pool, dead_url: str) -> None:
    services = ServiceContext(dead_pool, Endpoints(dead_url, UNREACHABLE_TEMPORAL, "default"), seed.TENANT)
    app = quiet(RunStudioApp(services))
    sentence = "Postgres at "
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.open_run(seed.run_id("stuck"))
        await settle(pilot, until=lambda: isinstance(app.screen, RunDetailScreen) and app.screen.problem is not None)
        assert isinstance(app.screen, RunDetailScreen)
        assert app.screen.problem is not None
        assert app.screen.problem.startswith(sentence) and "Errno" not in app.screen.problem
        await pilot.press("escape")
        await settle(pilot)
        app.action_open_inbox()
        await settle(pilot, until=lambda: isinstance(app.screen, InboxScreen) and app.screen.problem is not None)
        assert isinstance(app.screen, InboxScreen)
        assert app.screen.problem is not None
        assert app.screen.problem.startswith(sentence) and app.screen.problem.endswith("to see what is down.")
