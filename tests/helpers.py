"""Helpers for integration tests: publishing examples and waiting for runs to reach a state."""

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from engine.services.context import ServiceContext
from engine.services.publish import publish_definition
from engine.services.runs import RunDetail, get_run_detail

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "CANCELED"})


def example(name: str) -> dict[str, Any]:
    """The parsed JSON of ``examples/<name>.json``."""
    data: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text())
    return data


async def publish_examples(services: ServiceContext, *names: str) -> None:
    """Publish example definitions for the test's tenant, in order."""
    for name in names:
        await publish_definition(services, example(name))


async def wait_for_run(
    services: ServiceContext, run_id: str, statuses: frozenset[str] = TERMINAL, *, timeout: float = 20.0
) -> RunDetail:
    """Poll the read-model until the run is in one of ``statuses``; fail with its state if it never is."""
    deadline = time.monotonic() + timeout
    detail = await get_run_detail(services, run_id)
    while detail.status not in statuses:
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} stayed {detail.status}; steps: {[s.path for s in detail.steps]}")
        await asyncio.sleep(0.05)
        detail = await get_run_detail(services, run_id)
    return detail


async def wait_until(predicate: Any, *, timeout: float = 20.0, what: str = "condition") -> Any:
    """Poll an async predicate until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def runstudio(
    *args: str, env: dict[str, str], input_text: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the ``runstudio`` CLI in a subprocess (its real entry point, exit code included) and capture it."""
    return subprocess.run(
        [sys.executable, "-c", "from runstudio.cli import main; main()", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input_text,
    )
