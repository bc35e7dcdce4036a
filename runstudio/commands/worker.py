"""``runstudio worker``: the Temporal worker process."""

from typing import Annotated

import typer

from runstudio.context import run_async
from runstudio.lazy import load_settings


def register(app: typer.Typer) -> None:
    """Add ``worker`` to the root app."""
    app.command("worker")(worker_command)


def worker_command(
    log_level: str = typer.Option("INFO", "--log-level", help="Logging level (DEBUG, INFO, WARNING, ERROR)."),
    as_json: Annotated[
        bool, typer.Option("--json", help="Log JSON lines to stderr (as RUNSTUDIO_LOG_FORMAT=json does).")
    ] = False,
) -> None:
    """Run a worker on the task queue workflow-runtime-v2 until SIGTERM or Ctrl-C.

    It stops within its 10 s grace period plus a few seconds whatever is in flight (abandoned work is
    resumed by another worker: Temporal keeps the state); a second SIGTERM or Ctrl-C stops it at once.

    Set RUNSTUDIO_METRICS_PORT to serve /metrics and /healthz, RUNSTUDIO_LOG_FORMAT=json for JSON log lines.
    """
    from worker.main import run_worker
    from worker.observability import configure_logging
    from worker.shutdown import flush_and_exit

    settings = load_settings()
    configure_logging(log_level, "json" if as_json else settings.log_format)
    run_async(run_worker(settings))
    # Interpreter shutdown would join the SDK's threads and can crash in its native finaliser.
    flush_and_exit(0)
