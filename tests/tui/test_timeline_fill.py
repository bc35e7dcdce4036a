"""A long timeline paints a screenful first and fills in the rest after, frame by frame."""

from datetime import UTC, datetime, timedelta

from textual.app import App, ComposeResult

from engine.services.runs import StepView
from studio_tui.widgets.keyed_table import KeyedTable
from studio_tui.widgets.timeline import FIRST_ROWS, Timeline

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def steps(count: int) -> list[StepView]:
    return [
        StepView(
            path=f"root.steps[{n}]",
            step_id=f"step-{n}",
            type="action.call",
            status="SUCCEEDED",
            attempt=1,
            iteration=None,
            started_at=NOW - timedelta(seconds=count - n),
            completed_at=NOW - timedelta(seconds=count - n) + timedelta(milliseconds=900),
            duration_ms=900,
            error=None,
        )
        for n in range(count)
    ]


class TimelineApp(App[None]):
    def compose(self) -> ComposeResult:
        yield Timeline()


async def test_a_500_step_timeline_draws_a_screenful_then_fills_in_every_row() -> None:
    app = TimelineApp()
    async with app.run_test(size=(120, 40)) as pilot:
        timeline = app.query_one(Timeline)
        table = timeline.query_one(KeyedTable)
        timeline.show(steps(500), NOW)
        assert table.row_count == FIRST_ROWS  # before the first paint: a screenful, not 500 measured rows
        for _ in range(20):
            await pilot.pause()
            if table.row_count == 500:
                break
        assert table.row_count == 500
        # A later render (a running run's refresh) updates the rows in place, all at once.
        timeline.show(steps(501), NOW)
        assert table.row_count == 501
