"""The fault-injection suite's size, stack fixture and summary.

``RUNSTUDIO_FAULTS_SIZE=quick`` (the default, what CI runs) or ``dev`` (``make faults``) sets load and
fault counts; ``RUNSTUDIO_FAULTS_SEED`` fixes the random seed (default: a new one, printed).
"""

import os
import random
from collections.abc import AsyncIterator, Generator
from dataclasses import dataclass

import pytest

from tests.faults.figures import RESULTS
from tests.faults.stack import FaultStack, close_stack, open_stack


@dataclass(frozen=True)
class Size:
    """Load and faults per scenario."""

    name: str
    runs: int
    """Root runs of the mixed definition per scenario (each also starts a child)."""
    worker_kills: int
    """Random worker SIGKILLs in the worker scenario."""
    action_crashes: int
    """Worker deaths placed inside an action, between its side effect and the ledger's record."""
    outage_s: float
    """How long Postgres stays down, per stop."""
    temporal_kills: int
    scale_out_runs: int
    timeout: float
    """How long runs may take to settle after the last fault."""


SIZES = {
    "quick": Size("quick", runs=8, worker_kills=2, action_crashes=1, outage_s=5.0, temporal_kills=1,
                  scale_out_runs=8, timeout=90.0),
    "dev": Size("dev", runs=40, worker_kills=8, action_crashes=3, outage_s=10.0, temporal_kills=2,
                scale_out_runs=40, timeout=150.0),
}  # fmt: skip


def fault_size() -> Size:
    """The size chosen by ``RUNSTUDIO_FAULTS_SIZE``."""
    name = os.environ.get("RUNSTUDIO_FAULTS_SIZE", "quick")
    if name not in SIZES:
        raise pytest.UsageError(f"RUNSTUDIO_FAULTS_SIZE must be one of {', '.join(SIZES)}, got {name!r}")
    return SIZES[name]


@pytest.fixture
def size() -> Size:
    """The suite's size for this session."""
    return fault_size()


@pytest.fixture
def seed() -> int:
    """The scenario's RNG seed: ``RUNSTUDIO_FAULTS_SEED`` or a fresh one (printed in the figures line)."""
    fixed = os.environ.get("RUNSTUDIO_FAULTS_SEED")
    return int(fixed) if fixed else random.SystemRandom().randrange(1, 10**6)


@pytest.fixture
async def stack(request: pytest.FixtureRequest) -> AsyncIterator[FaultStack]:
    """A scenario's own stack with one worker; a failed scenario keeps its home (logs) and says where."""
    opened = await open_stack(workers=1)
    yield opened
    call = getattr(request.node, "rep_call", None)
    failed = call is not None and call.failed
    if failed:
        print(f"stack kept for inspection: {opened.home} (worker logs in {opened.home / 'logs'})")
    await close_stack(opened, keep=failed)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the test item, so the stack fixture knows whether the test failed."""
    rep = yield
    setattr(item, f"rep_{rep.when}", rep)
    return rep


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line per scenario that ran, then the suite's total."""
    if not RESULTS:
        return
    terminalreporter.section("fault injection")
    for figures in RESULTS:
        terminalreporter.write_line(figures.line())
    runs = sum(f.runs for f in RESULTS)
    faults = sum(f.faults for f in RESULTS)
    lost = sum(f.lost for f in RESULTS)
    duplicated = sum(f.duplicated_effects + f.duplicated_steps + f.duplicated_deliveries for f in RESULTS)
    terminalreporter.write_line(
        f"faults: {len(RESULTS)} scenarios, {runs} runs, {faults} faults, {lost} lost, {duplicated} duplicated"
    )
