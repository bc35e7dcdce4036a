"""Snapshots of issue 13's small truths at 80×24 and 120×40: footers that keep Help and Quit and follow the
focus, read-only help, a form error in JSON, the export toast and a header that says the worker is gone.

Seeded data, frozen clock, Temporal down (see ``conftest``). Update with ``--snapshot-update`` only after
reading the changed SVGs' text.
"""

from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import pytest
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.reactive import reactive

from studio_tui.app import RunStudioApp
from studio_tui.health import Health
from studio_tui.screens.help import HelpScreen
from studio_tui.widgets.health_header import HealthHeader
from tests.tui.conftest import Seeded, opener, quiet, settle
from tests.tui.test_snapshots import (
    SnapCompare,
    Steps,
    open_inbox,
    open_run,
    respond,
    scenario,
    studio,
    with_inbox,
)

SIZES = pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])

SNAPSHOT_EXPORTS = Path("/tmp/runstudio-snapshot-exports")
"""A fixed folder, so the toast's absolute path is the same on every run (the file name uses the frozen clock)."""


def exported() -> Steps:
    """Press e and wait for the toast."""

    async def step(pilot: Pilot[None], app: RunStudioApp) -> None:
        await pilot.press("e")
        await settle(pilot, until=lambda: any(str(n.message).startswith("Exported to") for n in app._notifications))

    return step


class TestSmallTruths:
    @SIZES
    def test_inbox_footer_on_the_task_list(
        self, snap_compare: SnapCompare, seeded: Seeded, size: tuple[int, int]
    ) -> None:
        """The task list has the focus: enter responds (the footer says so), Help and Quit stay."""
        assert snap_compare(studio(with_inbox(seeded)), terminal_size=size, run_before=scenario(open_inbox()))

    @SIZES
    def test_run_screen_footer_of_a_waiting_run(
        self, snap_compare: SnapCompare, seeded: Seeded, size: tuple[int, int]
    ) -> None:
        """The busiest footer: at 80 columns its last keys give way, Help and Quit never do."""
        assert snap_compare(studio(seeded), terminal_size=size, run_before=scenario(open_run("waiting")))

    @SIZES
    def test_read_only_help_on_the_run_screen(
        self, snap_compare: SnapCompare, seeded: Seeded, size: tuple[int, int]
    ) -> None:
        """No replay, cancel, event or task keys or notes; export says where files go."""

        async def help_open(pilot: Pilot[None], app: RunStudioApp) -> None:
            await pilot.press("question_mark")
            await settle(pilot, until=lambda: isinstance(app.screen, HelpScreen))

        run_before = scenario(open_run("waiting"), help_open)
        assert snap_compare(studio(seeded, read_only=True), terminal_size=size, run_before=run_before)

    @SIZES
    def test_form_error_in_json(self, snap_compare: SnapCompare, seeded: Seeded, size: tuple[int, int]) -> None:
        """``null is not of type "boolean"``, not Python's ``None``."""
        run_before = scenario(open_inbox(), respond("refund", '{"approved": null}'))
        assert snap_compare(studio(with_inbox(seeded)), terminal_size=size, run_before=run_before)

    @SIZES
    def test_export_toast_with_the_absolute_path(
        self, snap_compare: SnapCompare, seeded: Seeded, size: tuple[int, int]
    ) -> None:
        app = quiet(RunStudioApp(opener(seeded.url), exports_dir=SNAPSHOT_EXPORTS))
        run_before = scenario(open_run("parent"), exported())
        assert snap_compare(app, terminal_size=size, run_before=run_before)


class _HeaderOnly(App[None]):
    """The header on its own, fed a fixed health (the studio's own checks would race a snapshot)."""

    CSS_PATH = str(Path(__file__).resolve().parents[2] / "studio_tui" / "app.tcss")
    TITLE = "Run Studio"
    health: reactive[Health] = reactive(Health)
    AUTO_FOCUS: ClassVar[str | None] = None

    def __init__(self, health: Health) -> None:
        super().__init__()
        self._given = health

    def compose(self) -> ComposeResult:
        yield HealthHeader(tenant="studio", read_only=False)

    def on_mount(self) -> None:
        self.health = self._given


class TestHeader:
    @SIZES
    def test_a_dead_worker(self, snap_compare: SnapCompare, size: tuple[int, int]) -> None:
        """Temporal still lists the killed worker; the header counts only workers seen in the last 10 s."""
        last_poll = datetime(2025, 6, 2, 9, 29, 41, tzinfo=UTC)
        health = Health(database=True, temporal=True, workers=0, workers_last_seen=last_poll, stuck=2)
        assert snap_compare(_HeaderOnly(health), terminal_size=size)

    @SIZES
    def test_a_live_worker(self, snap_compare: SnapCompare, size: tuple[int, int]) -> None:
        health = Health(database=True, temporal=True, workers=1, stuck=0)
        assert snap_compare(_HeaderOnly(health), terminal_size=size)
