"""Snapshots of the replay modal with its side-effect preview (seeded order-sync run, frozen clock).

Update with ``pytest --snapshot-update`` and look at every changed SVG before accepting it.
"""

import pytest
from textual.pilot import Pilot

from engine.store.db import connect
from studio_tui.app import RunStudioApp
from studio_tui.screens.replay_modal import ReplayModal
from tests.tui.conftest import Seeded, settle
from tests.tui.seed_replay_preview import seed_preview_run
from tests.tui.test_snapshots import SnapCompare, Steps, no_cursor_blink, open_run, press, scenario, studio


@pytest.fixture
async def preview_seeded(seeded: Seeded) -> Seeded:
    """The studio data plus the order-sync run whose preview has every outcome."""
    conn = await connect(seeded.url)
    try:
        await seed_preview_run(conn)
    finally:
        await conn.close()
    return seeded


def preview_settled(*, side_effects: int) -> Steps:
    """Wait until the debounced preview has been computed and shows ``side_effects``."""

    async def step(pilot: Pilot[None], app: RunStudioApp) -> None:
        def ready() -> bool:
            screen = app.screen
            if not isinstance(screen, ReplayModal) or screen.preview.note is not None:
                return False
            preview = screen.preview.preview
            return preview is not None and preview.side_effects == side_effects

        await settle(pilot, until=ready)

    return step


def replay_preview() -> tuple[Steps, ...]:
    return open_run("preview"), press("R"), no_cursor_blink(), preview_settled(side_effects=1)


class TestReplayPreview:
    def test_unedited(self, snap_compare: SnapCompare, preview_seeded: Seeded) -> None:
        """R on the order-sync run: under the editor, one line per action call — reused, runs again, unknown,
        pure or side effect, and why — and the keys line says "1 side effect will run again"."""
        run_before = scenario(*replay_preview())
        assert snap_compare(studio(preview_seeded), terminal_size=(110, 34), run_before=run_before)

    def test_edited_order_id(self, snap_compare: SnapCompare, preview_seeded: Seeded) -> None:
        """orderId edited to o-12: notify's key is new (runs again), the redacted card is restored (charge still
        reused); the count becomes 2."""
        edit = press("down", "down", "end", "left", "2")
        run_before = scenario(*replay_preview(), edit, preview_settled(side_effects=2))
        assert snap_compare(studio(preview_seeded), terminal_size=(110, 34), run_before=run_before)

    def test_at_80x24(self, snap_compare: SnapCompare, preview_seeded: Seeded) -> None:
        """The smallest supported size: the editor shrinks, the preview keeps its heading and calls, reasons cut."""
        run_before = scenario(*replay_preview())
        assert snap_compare(studio(preview_seeded), terminal_size=(80, 24), run_before=run_before)
