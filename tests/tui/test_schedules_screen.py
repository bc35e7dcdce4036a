"""The schedules screen: a snapshot of fixed rows, and pause/trigger on a real Temporal Schedule through the keys."""

from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest
from textual.pilot import Pilot

from engine.services.context import ServiceContext
from engine.services.publish import publish_definition
from engine.services.schedules import ScheduleRow
from engine.store import runs
from engine.temporal import schedules as temporal_schedules
from studio_tui.app import RunStudioApp
from studio_tui.screens.confirm_modal import ConfirmModal
from studio_tui.screens.runs import RunsScreen
from studio_tui.screens.schedules import ScheduleSource, SchedulesScreen
from tests.helpers import wait_for_run, wait_until
from tests.integration.test_schedules import YEARLY, definition
from tests.tui import seed
from tests.tui.conftest import Seeded, opener, quiet, settle
from tests.tui.test_snapshots import runs_ready

SnapCompare = Callable[..., bool]
NOW = seed.NOW

FIXED_ROWS = [
    ScheduleRow(
        schedule_id="runstudio:schedule:studio:nightly-report",
        workflow_id="nightly-report",
        version=3,
        cron="0 2 * * *",
        timezone="Europe/Paris",
        state="active",
        paused=False,
        note=None,
        next_action_times=[NOW + timedelta(hours=14, minutes=30)],
        last_action_time=NOW - timedelta(hours=9, minutes=30),
        last_run_id="5b7f2c1e-0d4a-5c2b-9e1f-3a4b5c6d7e8f",
        last_run_status="SUCCEEDED",
    ),
    ScheduleRow(
        schedule_id="runstudio:schedule:studio:sync-tickets",
        workflow_id="sync-tickets",
        version=1,
        cron="*/15 * * * *",
        timezone=None,
        state="paused",
        paused=True,
        note="vendor maintenance until Friday",
        next_action_times=[NOW + timedelta(minutes=15)],
        last_action_time=NOW - timedelta(days=2),
        last_run_id="0c1d2e3f-4a5b-5c6d-8e7f-8091a2b3c4d5",
        last_run_status="FAILED",
    ),
    ScheduleRow(
        schedule_id="runstudio:schedule:studio:weekly-digest",
        workflow_id="weekly-digest",
        version=2,
        cron="@weekly",
        timezone=None,
        state="missing",
        paused=False,
        note=None,
        next_action_times=[],
        last_action_time=None,
        last_run_id=None,
        last_run_status=None,
    ),
]


async def _fixed_rows(_: ServiceContext) -> list[ScheduleRow]:
    return FIXED_ROWS


def open_fixed_schedules() -> Callable[[Pilot[None]], Awaitable[None]]:
    """A ``run_before``: the runs list, then the schedules screen over it with ``FIXED_ROWS`` (times from the frozen
    clock, so nothing in the picture moves)."""

    async def run_before(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, RunStudioApp)
        await settle(pilot, until=lambda: runs_ready(app))
        app.push_screen(SchedulesScreen(app.services, read_only=app.read_only, source=ScheduleSource(load=_fixed_rows)))
        await settle(
            pilot, until=lambda: isinstance(app.screen, SchedulesScreen) and app.screen.highlighted is not None
        )

    return run_before


class TestSchedulesScreenSnapshots:
    def test_active_paused_and_missing(self, snap_compare: SnapCompare, seeded: Seeded) -> None:
        """The columns, the paused note under the table and the footer's pause/trigger keys."""
        app = quiet(RunStudioApp(opener(seeded.url)))
        assert snap_compare(app, terminal_size=(100, 30), run_before=open_fixed_schedules())

    def test_read_only_at_80x24(self, snap_compare: SnapCompare, seeded: Seeded) -> None:
        """Read-only: no pause or trigger key in the footer."""
        app = quiet(RunStudioApp(opener(seeded.url), read_only=True))
        assert snap_compare(app, terminal_size=(80, 24), run_before=open_fixed_schedules())


@pytest.fixture
async def scheduled(services: ServiceContext) -> ServiceContext:
    """The services of a fresh tenant with one yearly schedule (deleted after the test): nothing fires by itself."""
    await publish_definition(services, definition("tui-nightly", 1, YEARLY))
    return services


async def _delete(services: ServiceContext) -> None:
    await temporal_schedules.delete_schedule(await services.temporal(), services.tenant, "tui-nightly")


async def test_s_opens_the_schedules_and_p_and_t_pause_and_trigger_after_a_confirmation(
    scheduled: ServiceContext,
) -> None:
    services = scheduled
    client = await services.temporal()
    sid = temporal_schedules.schedule_id(services.tenant, "tui-nightly")
    app = quiet(RunStudioApp(services))
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot, until=lambda: isinstance(app.screen, RunsScreen))
            await pilot.press("S")
            await settle(
                pilot, until=lambda: isinstance(app.screen, SchedulesScreen) and app.screen.highlighted is not None
            )
            screen = app.screen
            assert isinstance(screen, SchedulesScreen)
            assert screen.highlighted is not None and screen.highlighted.state == "active"

            await pilot.press("p")
            assert isinstance(app.screen, ConfirmModal)
            await pilot.press("y")

            async def paused() -> bool:
                return (await client.get_schedule_handle(sid).describe()).schedule.state.paused

            await wait_until(paused, what="the schedule paused in Temporal")
            await settle(pilot, until=lambda: screen.highlighted is not None and screen.highlighted.paused)

            await pilot.press("t")
            assert isinstance(app.screen, ConfirmModal)
            await pilot.press("y")

            async def scheduled_run() -> str | None:
                found = await services.pool.fetchval(
                    "SELECT run_id::text FROM workflow_runs WHERE tenant = $1 AND trigger = 'schedule'", services.tenant
                )
                return found if isinstance(found, str) else None

            run_id = await wait_until(scheduled_run, what="a run started by the trigger")
            assert (await wait_for_run(services, run_id)).status == "SUCCEEDED"
            row = await runs.get(services.pool, tenant=services.tenant, run_id=run_id)
            assert row is not None and row.trigger_metadata["scheduleId"] == sid
            await settle(
                pilot, until=lambda: screen.highlighted is not None and screen.highlighted.last_run_id == run_id
            )
    finally:
        await _delete(services)


async def test_read_only_hides_and_refuses_pause_and_trigger(scheduled: ServiceContext) -> None:
    services = scheduled
    client = await services.temporal()
    sid = temporal_schedules.schedule_id(services.tenant, "tui-nightly")
    app = quiet(RunStudioApp(services, read_only=True))
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot, until=lambda: isinstance(app.screen, RunsScreen))
            await pilot.press("S")
            await settle(
                pilot, until=lambda: isinstance(app.screen, SchedulesScreen) and app.screen.highlighted is not None
            )
            screen = app.screen
            assert isinstance(screen, SchedulesScreen)
            shown = {binding.key for _, binding, enabled, _ in screen.active_bindings.values() if enabled}
            assert "p" not in shown and "t" not in shown
            await pilot.press("p", "t")
            await settle(pilot)
            assert app.screen is screen  # no confirmation was even offered
            assert (await client.get_schedule_handle(sid).describe()).schedule.state.paused is False
            assert (
                await services.pool.fetchval("SELECT count(*) FROM workflow_runs WHERE tenant = $1", services.tenant)
                == 0
            )
    finally:
        await _delete(services)
