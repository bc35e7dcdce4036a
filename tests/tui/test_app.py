"""The app shell: header health, read-only mode, help, command palette, NO_COLOR, and hostile strings on screen."""

import dataclasses
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import typer
from rich.color import ColorType
from textual.filter import Monochrome
from textual.strip import Strip
from typer.testing import CliRunner

from engine.services.context import ServiceContext
from runstudio.commands import tui as tui_command
from runstudio.context import GlobalOptions
from studio_tui.app import RunStudioApp
from studio_tui.screens.help import HelpScreen
from studio_tui.screens.run_detail import RunDetailScreen
from studio_tui.screens.runs import RunsScreen
from studio_tui.widgets.stuck_banner import ASKING, StuckBanner
from tests.tui import seed
from tests.tui.conftest import quiet, settle

AppFactory = Callable[..., RunStudioApp]


def screen_lines(app: RunStudioApp) -> list[str]:
    """The text of every line of the current screen, as the compositor would send it."""
    return ["".join(segment.text for segment in strip) for strip in strips(app)]


def strips(app: RunStudioApp) -> list[Strip]:
    return app.screen._compositor.render_strips()


def header(app: RunStudioApp) -> str:
    return screen_lines(app)[0]


async def test_header_shows_tenant_and_health_with_temporal_down(studio_app: AppFactory) -> None:
    app = studio_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, until=lambda: app.health.checked)
        line = header(app)
        assert "tenant studio" in line
        assert "✓ database" in line and "✗ Temporal down" in line and "? workers" in line
        assert "⚠ 1 stuck" in line
        assert "READ-ONLY" not in line


async def test_read_only_mode_is_plumbed_to_every_screen(studio_app: AppFactory) -> None:
    app = studio_app(read_only=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert app.read_only
        assert isinstance(app.screen, RunsScreen) and app.screen.read_only
        assert "READ-ONLY" in header(app)
        app.open_run(seed.run_id("nested"))
        await settle(pilot)
        assert isinstance(app.screen, RunDetailScreen) and app.screen.read_only
        assert "READ-ONLY" in header(app)


async def test_health_is_ok_on_a_real_stack_and_a_stuck_run_says_why(services: ServiceContext) -> None:
    """With Temporal up and a worker polling, the header is green and the banner gives Temporal's reason."""
    await seed.publish(services.pool, seed.example("echo_chain"), tenant=services.tenant)
    stuck = await seed.insert_run(
        services.pool, seed.Run("real-stuck", "echo-chain", "RUNNING", seed.ago(5 * 60)), tenant=services.tenant
    )
    frozen = dataclasses.replace(services, clock=seed.frozen_clock)
    app = quiet(RunStudioApp(frozen))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, until=lambda: app.health.checked)
        line = header(app)
        assert "✓ database" in line and "✓ Temporal" in line and "worker" in line
        assert app.health.workers is not None and app.health.workers >= 1
        app.open_run(stuck)
        await settle(
            pilot,
            until=lambda: isinstance(app.screen, RunDetailScreen) and app.screen.stuck_reason != ASKING,
        )
        banner = str(app.screen.query_one(StuckBanner).content)
        # The run row exists, but nothing was ever started on Temporal for it.
        assert "Temporal has no execution" in banner


async def test_help_lists_the_keys_of_the_screen_it_was_opened_from(studio_app: AppFactory) -> None:
    app = studio_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        text = "\n".join(screen_lines(app))
        assert "Keys — runs" in text and "Search" in text and "Failed" in text
        await pilot.press("escape")
        app.open_run(seed.run_id("nested"))
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        text = "\n".join(screen_lines(app))
        assert "Keys — run" in text and "Copy id" in text and "Parent" in text
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, RunDetailScreen)


async def test_the_command_palette_filters_runs_by_status(studio_app: AppFactory) -> None:
    app = studio_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        app.open_run(seed.run_id("nested"))
        await settle(pilot)
        await pilot.press("ctrl+p")
        await pilot.press(*"filter runs: failed")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        assert screen.status_filter == "FAILED"


async def test_no_color_turns_every_colour_to_grey(studio_app: AppFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = studio_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert app.no_color
        filters = [f for f in app.get_line_filters() if isinstance(f, Monochrome)]
        assert filters
        coloured = 0
        for strip in strips(app):
            for segment in filters[0].apply(list(strip), app.screen.background_colors[1]):
                for color in (segment.style.color, segment.style.bgcolor) if segment.style else ():
                    if color is not None and color.type == ColorType.TRUECOLOR:
                        red, green, blue = color.get_truecolor()
                        coloured += not (red == green == blue)
        assert coloured == 0


async def test_hostile_strings_render_as_literal_inert_text(studio_app: AppFactory) -> None:
    app = studio_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        lines = ["\n".join(screen_lines(app))]
        assert "evil[bold]␛[2J@1" in lines[0]
        app.open_run(seed.run_id("hostile"))
        await settle(pilot)
        for _ in range(3):  # timeline, input, vars
            lines.append("\n".join(screen_lines(app)))
            await pilot.press("right_square_bracket")
            await settle(pilot)
        shown = "\n".join(lines)
        assert "[@click=app.quit]" in shown and "[bold]loud[/bold]" in shown
        assert "␛[2J" in shown and "␛]52;c;SGVsbG8=␇" in shown and "�31m" in shown and "red␍over" in shown
        assert "copy[@click=app.quit]␛]0;owned␇" in shown
        for strip in strips(app):
            for segment in strip:
                if not segment.control:
                    assert "\x1b" not in segment.text and "\r" not in segment.text
                    assert not any(0x80 <= ord(ch) <= 0x9F or ord(ch) == 0x7F for ch in segment.text)
        svg = app.export_screenshot()
        assert "\x1b" not in svg and "\x9b" not in svg
        assert app.is_running and isinstance(app.screen, RunDetailScreen)


def test_the_tui_command_passes_tenant_and_read_only_to_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []
    ran: list[tuple[str, bool]] = []

    @asynccontextmanager
    async def fake_open_services(_: Any, *, tenant: str) -> AsyncIterator[Any]:
        opened.append(tenant)
        yield ServiceContext(pool=None, endpoints=None, tenant=tenant)  # type: ignore[arg-type]

    async def fake_run_async(self: RunStudioApp) -> None:
        ran.append((self.services.tenant, self.read_only))

    monkeypatch.setattr(tui_command, "open_services", fake_open_services)
    monkeypatch.setattr(RunStudioApp, "run_async", fake_run_async)
    app = typer.Typer()

    @app.callback()
    def root(ctx: typer.Context, tenant: str = typer.Option("default", "--tenant")) -> None:
        ctx.obj = GlobalOptions(tenant=tenant)

    tui_command.register(app)
    result = CliRunner().invoke(app, ["--tenant", "acme", "tui", "--read-only"])
    assert result.exit_code == 0, result.output
    assert opened == ["acme"] and ran == [("acme", True)]
    assert "--read-only" in CliRunner().invoke(app, ["tui", "--help"]).output


def test_registering_the_tui_command_does_not_import_textual() -> None:
    probe = (
        "import json, sys, typer\n"
        "from runstudio.commands import tui\n"
        "tui.register(typer.Typer())\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('textual', 'studio_tui')))))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert json.loads(result.stdout) == []
