"""Snapshot of the run screen when Temporal's Web UI is known: the summary's ``temporal`` line (a hyperlink) at
80×24 and 120×40. Seeded data, frozen clock, Temporal down; update with ``--snapshot-update`` only after
looking at the changed SVGs."""

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from engine.services.context import ServiceContext
from studio_tui.app import RunStudioApp
from tests.tui.conftest import Seeded, opener, quiet
from tests.tui.test_snapshots import SnapCompare, open_run, scenario

UI = "http://127.0.0.1:8233"


def studio_with_ui(seeded: Seeded) -> RunStudioApp:
    """The studio on the seeded data, with a Web UI configured (as TEMPORAL_UI_URL or the embedded stack does)."""
    plain = opener(seeded.url)

    @asynccontextmanager
    async def open_services() -> AsyncIterator[ServiceContext]:
        async with plain() as services:
            endpoints = dataclasses.replace(services.endpoints, temporal_ui_url=UI)
            yield dataclasses.replace(services, endpoints=endpoints)

    return quiet(RunStudioApp(open_services))


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_the_summary_links_the_run_in_temporals_web_ui(
    snap_compare: SnapCompare, seeded: Seeded, size: tuple[int, int]
) -> None:
    assert snap_compare(studio_with_ui(seeded), terminal_size=size, run_before=scenario(open_run("nested")))
