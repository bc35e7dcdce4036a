"""Options shared by every command, and the one way commands run async code."""

import gc
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import typer

T = TypeVar("T")


@dataclass(frozen=True)
class GlobalOptions:
    """Options given before the command name."""

    tenant: str


def options(ctx: typer.Context) -> GlobalOptions:
    """Return the global options of the current invocation."""
    obj = ctx.find_root().obj
    assert isinstance(obj, GlobalOptions)
    return obj


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run one coroutine to completion; collect garbage after, which avoids the SDK's exit-time crash."""
    import asyncio  # here, not at the top: ``--help`` and argument errors never start a loop

    try:
        return asyncio.run(coro)
    finally:
        gc.collect()
