"""Deterministic measures of work, for tests that must bound how much an operation does without timing it.

Speed is measured in ``bench/``, never timed in tests: a wall-clock bound fails on a loaded machine and,
made loose enough not to, stops catching anything. What these tests mean by "fast" is "does a bounded
amount of work", and work can be counted exactly:

- :class:`CallMeter` counts the Python-level calls made in this thread (functions and methods written in
  Python, and every call of a C function *from* Python: ``isinstance``, ``len``, ``list.append``...).
  The count is the same on every run of the same code, whatever the load.
- :class:`WorkClock` stands in for the ``time`` module of :mod:`engine.expression_guards`, so the guard's
  time limit becomes a budget of calls: ``timeout_ms`` milliseconds are ``timeout_ms * calls_per_ms``
  calls. An evaluation that "stops within its limit plus 10 %" must then stop within 110 % of that many
  calls, on any machine. Work inside one native call (a C-level sort of a list) is invisible to it; the
  guard's element and length limits (:data:`engine.expression_guards.MAX_ELEMENTS`) bound that work, and
  the tests of those limits assert them directly.
- :func:`peak_bytes` is the peak of Python memory allocated while a block ran (``tracemalloc``): a string
  refused *before* it is built never costs its size.
"""

import sys
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, Final

import pytest

from engine import expression_guards

CALLS_PER_MS: Final = 2_000
"""The scale of a :class:`WorkClock`: calls per millisecond of a time limit. Python makes ~20,000-40,000
calls a millisecond evaluating expressions here (~10x fewer under the meter); a smaller scale keeps the
tests quick while every budget stays far beyond the widest stretch between two readings of the clock
(~1,400 calls: 64 ticks of a native callback)."""

_CALL_EVENTS: Final = frozenset({"call", "c_call"})


class CallMeter:
    """Count the Python-level calls made in this thread while the meter is entered (re-entrant use is not)."""

    def __init__(self) -> None:
        self.calls = 0
        self._previous: Any = None

    def _profile(self, _frame: FrameType, event: str, _arg: Any) -> None:
        if event in _CALL_EVENTS:
            self.calls += 1

    def __enter__(self) -> "CallMeter":
        self._previous = sys.getprofile()
        sys.setprofile(self._profile)
        return self

    def __exit__(self, *_exc: object) -> None:
        sys.setprofile(self._previous)


class WorkClock:
    """A ``time`` module for :mod:`engine.expression_guards` whose monotonic clock counts calls, not seconds.

    Every reading is kept (in calls) so a test can see where the guard started and how far apart it looked.
    """

    def __init__(self, meter: CallMeter, calls_per_ms: int) -> None:
        self.meter = meter
        self.calls_per_ms = calls_per_ms
        self.readings: list[int] = []

    def monotonic(self) -> float:
        """The seconds of work done so far: calls counted by the meter over ``calls_per_ms * 1000``."""
        calls = self.meter.calls
        self.readings.append(calls)
        return calls / (self.calls_per_ms * 1000)

    def budget(self, timeout_ms: int) -> int:
        """The calls a time limit of ``timeout_ms`` allows."""
        return timeout_ms * self.calls_per_ms

    def calls_since_start(self, until: int) -> int:
        """Calls from the first reading (the guard's start) to ``until``."""
        assert self.readings, "the guard never read the clock"
        return until - self.readings[0]

    def widest_gap(self) -> int:
        """The most calls that passed between two consecutive readings of the clock."""
        return max((b - a for a, b in zip(self.readings, self.readings[1:], strict=False)), default=0)


@contextmanager
def work_clock(monkeypatch: pytest.MonkeyPatch, calls_per_ms: int) -> Iterator[WorkClock]:
    """Meter the block's calls and make them the guard's clock for its duration."""
    meter = CallMeter()
    clock = WorkClock(meter, calls_per_ms)
    with monkeypatch.context() as patch:
        patch.setattr(expression_guards, "time", clock)
        with meter:
            yield clock


@contextmanager
def peak_bytes() -> Iterator[list[int]]:
    """Yield a list that holds, after the block, the peak bytes Python allocated during it."""
    peak: list[int] = []
    started_here = not tracemalloc.is_tracing()
    if started_here:
        tracemalloc.start()
    tracemalloc.reset_peak()
    baseline, _ = tracemalloc.get_traced_memory()
    try:
        yield peak
    finally:
        _, top = tracemalloc.get_traced_memory()
        peak.append(top - baseline)
        if started_here:
            tracemalloc.stop()
