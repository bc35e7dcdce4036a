"""Options shared by every command, and the one way commands run async code."""

import gc
import sys
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


def run_async(coro: Coroutine[Any, Any, T], *, collect_cycles: bool = True) -> T:
    """Run one coroutine to completion; collect garbage after, which avoids the SDK's exit-time crash.

    The cyclic garbage collector is turned back on first (``main`` turns it off while the CLI starts, see
    ``start_up_without_gc``), unless ``collect_cycles`` is false: then the coroutine turns it on itself with
    ``gc.enable()`` once it has imported what it needs (the studio, whose imports happen inside its loop).
    """
    import asyncio  # here, not at the top: ``--help`` and argument errors never start a loop

    if collect_cycles:
        gc.enable()
    try:
        return asyncio.run(coro)
    finally:
        if "temporalio" in sys.modules:
            # Only a process that loaded the SDK can crash in its finalisers; a full collection is ~10 ms.
            gc.collect()


def start_up_without_gc() -> None:
    """Turn the cyclic garbage collector off while the CLI starts (``run_async`` turns it back on).

    Start-up is imports: hundreds of modules allocate objects, almost none of them garbage, and the collector
    keeps walking them (about a tenth of the import time of the studio). Commands that never reach
    ``run_async`` are short ones (``expr``, ``services``), which end before garbage matters.
    """
    gc.disable()
