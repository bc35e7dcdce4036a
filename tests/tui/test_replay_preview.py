"""Pilot tests of the replay modal's preview: shown on open, recomputed after edits, nothing started."""

import io
import json
from typing import Any

import asyncpg
import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import TextArea

from engine.services.context import ServiceContext
from engine.services.replay_preview import ReplayPreview
from engine.services.replay_preview import preview_replay as real_preview_replay
from studio_tui.app import RunStudioApp
from studio_tui.screens import replay_modal
from studio_tui.screens.replay_modal import ReplayModal
from studio_tui.widgets.replay_preview import preview_renderable
from tests.tui import seed
from tests.tui.conftest import loaded, quiet, settle, studio_services
from tests.tui.seed_replay_preview import seed_preview_run

Previews = list[dict[str, Any] | None]


@pytest.fixture
async def preview_pool(seeded_pool: asyncpg.Pool) -> asyncpg.Pool:
    """The studio data plus the order-sync run whose preview has every outcome."""
    await seed_preview_run(seeded_pool)
    return seeded_pool


@pytest.fixture
def previews(monkeypatch: pytest.MonkeyPatch) -> Previews:
    """The payload of every preview the modal asks for; the real service still computes it."""
    asked: Previews = []

    async def recording(ctx: ServiceContext, run_id: str, *, payload: dict[str, Any] | None) -> ReplayPreview:
        asked.append(payload)
        return await real_preview_replay(ctx, run_id, payload=payload)

    monkeypatch.setattr(replay_modal, "preview_replay", recording)
    return asked


def app_on(pool: asyncpg.Pool, url: str) -> RunStudioApp:
    return quiet(RunStudioApp(studio_services(pool, url)))


def dialog(app: RunStudioApp) -> ReplayModal:
    screen = app.screen
    assert isinstance(screen, ReplayModal), screen
    return screen


def preview_ready(app: RunStudioApp) -> bool:
    screen = app.screen
    return isinstance(screen, ReplayModal) and screen.preview.preview is not None and screen.preview.note is None


async def open_preview(pilot: Pilot[None], app: RunStudioApp) -> ReplayModal:
    await settle(pilot)
    rid = seed.run_id("preview")
    app.open_run(rid)
    await settle(pilot, until=loaded(app, rid))
    await pilot.press("R")
    await settle(pilot, until=lambda: preview_ready(app))
    return dialog(app)


def plain_lines(modal: ReplayModal) -> list[str]:
    """The preview area as plain text lines, as the widget renders it."""
    console = Console(width=110, record=True, file=io.StringIO())
    console.print(preview_renderable(modal.preview, {}))
    return [line.rstrip() for line in console.export_text().splitlines()]


def outcome_of(modal: ReplayModal, step_id: str) -> str:
    assert modal.preview.preview is not None
    return next(c.outcome for c in modal.preview.preview.calls if c.step_id == step_id)


async def rows(pool: asyncpg.Pool, table: str) -> int:
    count: int = await pool.fetchval(f"SELECT count(*) FROM {table} WHERE tenant = $1", seed.TENANT)
    return count


async def test_the_preview_shows_on_open_and_names_the_side_effects_in_the_keys(
    preview_pool: asyncpg.Pool, migrated_database_url: str, previews: Previews
) -> None:
    before = (await rows(preview_pool, "workflow_runs"), await rows(preview_pool, "workflow_run_audit"))
    app = app_on(preview_pool, migrated_database_url)
    async with app.run_test(size=(110, 34)) as pilot:
        modal = await open_preview(pilot, app)
        preview = modal.preview.preview
        assert preview is not None
        assert [(c.step_id, c.outcome, c.pure) for c in preview.calls] == [
            ("lookup", "runs again", True),
            ("notify", "reused", False),
            ("charge", "reused", False),
            ("stamp", "unknown", False),
            ("trace", "unknown", True),
        ]
        assert previews == [None]  # unedited: the original input, no payload sent
        assert modal.query_one("#replay-body").border_subtitle == (
            "ctrl+s replay: 1 side effect will run again · escape back"
        )
        lines = plain_lines(modal)
        assert lines[0] == "1 side effect will run again · 2 reused · 1 run again · 2 unknown"
        assert lines[2].split()[:6] == ["✓", "reused", "notify.outbox", "v1", "root.steps[2]", "side"]
    assert (await rows(preview_pool, "workflow_runs"), await rows(preview_pool, "workflow_run_audit")) == before


async def test_an_edit_recomputes_the_preview_with_the_placeholders_restored(
    preview_pool: asyncpg.Pool, migrated_database_url: str, previews: Previews
) -> None:
    app = app_on(preview_pool, migrated_database_url)
    async with app.run_test(size=(110, 34)) as pilot:
        modal = await open_preview(pilot, app)
        editor = modal.query_one("#replay-editor", TextArea)
        edited = json.loads(editor.text)
        assert edited["card"] == "[REDACTED]"
        edited["orderId"] = "o-2"
        editor.text = json.dumps(edited, indent=2)
        await settle(pilot, until=lambda: preview_ready(app) and outcome_of(modal, "notify") == "runs again")
        assert previews[-1] == {"orderId": "o-2", "card": "[REDACTED]"}
        # The card placeholder gets the original card back on the server, so charge's key is unchanged.
        assert outcome_of(modal, "charge") == "reused"
        assert modal.preview.preview is not None and modal.preview.preview.side_effects == 2
        assert "2 side effects will run again" in str(modal.query_one("#replay-body").border_subtitle)

        editor.text = "{"
        await settle(pilot, until=lambda: modal.preview.note == "waiting for valid JSON")
        assert modal.preview.preview is None
        assert modal.query_one("#replay-body").border_subtitle == "ctrl+s replay · escape back"


async def test_a_payload_the_replay_would_refuse_is_said_in_the_preview(
    preview_pool: asyncpg.Pool, migrated_database_url: str, previews: Previews
) -> None:
    app = app_on(preview_pool, migrated_database_url)
    async with app.run_test(size=(110, 34)) as pilot:
        modal = await open_preview(pilot, app)
        modal.query_one("#replay-editor", TextArea).text = '{"card": "[REDACTED]"}'
        await settle(pilot, until=lambda: modal.preview.problem is not None)
        assert modal.preview.problem is not None
        assert modal.preview.problem.startswith("the replay would refuse this payload: ")
        assert "orderId" in modal.preview.problem
