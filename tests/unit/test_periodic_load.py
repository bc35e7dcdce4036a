"""PeriodicLoad: the reload timer of the inbox and schedules screens."""

from typing import Any, cast

from textual.screen import Screen

from studio_tui.refresh import PeriodicLoad


class _Timer:
    def __init__(self) -> None:
        self.paused = False

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False


class _Screen:
    def __init__(self) -> None:
        self.timer = _Timer()
        self.intervals: list[float] = []

    def set_interval(self, seconds: float, _callback: object) -> _Timer:
        self.intervals.append(seconds)
        return self.timer


def _periodic() -> tuple[PeriodicLoad, _Screen, list[int]]:
    screen = _Screen()
    loads: list[int] = []
    periodic = PeriodicLoad(cast(Screen[Any], screen), lambda: loads.append(1), 2.0)
    return periodic, screen, loads


def test_start_loads_at_once_and_sets_the_interval() -> None:
    periodic, screen, loads = _periodic()
    periodic.start()
    assert loads == [1]
    assert screen.intervals == [2.0]


def test_resume_catches_up_only_when_asked() -> None:
    periodic, screen, loads = _periodic()
    periodic.start()
    periodic.pause()
    assert screen.timer.paused
    periodic.resume(catch_up=True)
    assert len(loads) == 2
    assert not screen.timer.paused


def test_a_screen_covered_before_its_first_load_still_refreshes_afterwards() -> None:
    # The first load is still in flight: no extra load, but the timer must run again (it stayed paused before).
    periodic, screen, loads = _periodic()
    periodic.start()
    periodic.pause()
    periodic.resume(catch_up=False)
    assert len(loads) == 1
    assert not screen.timer.paused


def test_pause_and_resume_before_start_do_nothing() -> None:
    periodic, screen, loads = _periodic()
    periodic.pause()
    periodic.resume(catch_up=True)
    assert loads == []
    assert screen.intervals == []
