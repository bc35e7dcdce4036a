"""The cyclic garbage collector is off only while the CLI starts: ``run_async`` turns it back on."""

import gc
from collections.abc import Iterator

import pytest

from runstudio.context import run_async, start_up_without_gc


@pytest.fixture(autouse=True)
def collector_restored() -> Iterator[None]:
    was_enabled = gc.isenabled()
    yield
    if was_enabled:
        gc.enable()


async def collector_state() -> bool:
    return gc.isenabled()


def test_a_command_runs_its_work_with_the_collector_back_on() -> None:
    start_up_without_gc()
    assert not gc.isenabled()
    assert run_async(collector_state()) is True


def test_a_command_that_imports_inside_its_loop_turns_it_on_itself() -> None:
    # The studio: its imports happen inside the loop, so it enables the collector once they are done.
    start_up_without_gc()

    async def studio() -> tuple[bool, bool]:
        before = gc.isenabled()
        gc.enable()
        return before, gc.isenabled()

    assert run_async(studio(), collect_cycles=False) == (False, True)
