"""``runstudio worker``: the Temporal worker process."""

import logging

import typer

from engine.config import load_settings
from runstudio.context import run_async


def register(app: typer.Typer) -> None:
    """Add ``worker`` to the root app."""
    app.command("worker")(worker_command)


def worker_command(
    log_level: str = typer.Option("INFO", "--log-level", help="Logging level (DEBUG, INFO, WARNING, ERROR)."),
) -> None:
    """Run a worker on the task queue workflow-runtime-v2 until SIGTERM or Ctrl-C."""
    from worker.main import run_worker

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    run_async(run_worker(load_settings()))
