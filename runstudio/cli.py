"""The ``runstudio`` entry point: builds the Typer app from ``runstudio.commands`` and exits cleanly.

Processes that used a Temporal client can crash in interpreter finalisation (temporalio/sdk-python#300),
so ``main`` flushes and leaves with ``os._exit`` once the command has finished.
"""

import os
import sys
import traceback

import typer

from engine.config import load_settings
from engine.errors import RunStudioError, ServiceUnavailableError
from engine.inbound import MAX_NAME_LENGTH, InboundRejected, check_text
from engine.services.context import unavailable_error
from engine.stack import Endpoints
from runstudio.commands import register_all
from runstudio.context import GlobalOptions
from runstudio.output import terminal_safe

EXIT_CODES_HELP = (
    "Exit codes: 0 ok; 1 refused or failed (the reason is one `error:` line on stderr, e.g. a service "
    "that is unreachable, with `runstudio doctor` as the fix); 2 usage error (unknown command or option, "
    "bad argument); 130 interrupted."
)
"""The contract every command keeps, shown under the top-level ``--help``."""

app = typer.Typer(
    name="runstudio",
    help="Run Studio: authored workflows on Temporal, with a Postgres read-model and a terminal studio.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=EXIT_CODES_HELP,
)


@app.callback()
def _global_options(
    ctx: typer.Context,
    tenant: str = typer.Option("default", "--tenant", help="Tenant whose data the command reads and writes."),
) -> None:
    # A tenant is written into every row, so it passes the same boundary as every other inbound value.
    try:
        check_text(tenant, what="--tenant", max_length=MAX_NAME_LENGTH)
    except InboundRejected as exc:
        raise typer.BadParameter(str(exc), param_hint="--tenant") from exc
    ctx.obj = GlobalOptions(tenant=tenant)


register_all(app)


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code instead of exiting (used by ``main`` and tests).

    Typer runs in standalone mode, so usage errors print their help and exit 2, and every normal ending
    is a ``SystemExit``; our own errors become one ``error:`` line on stderr (exit 1) instead of a
    traceback. A Postgres or Temporal outage that escaped the services layer is still named as one.
    """
    try:
        app(args=argv, prog_name="runstudio")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except RunStudioError as exc:
        print(f"error: {terminal_safe(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get("RUNSTUDIO_DEBUG"):
            traceback.print_exc()
        outage = _configured_outage(exc)
        if outage is not None:
            print(f"error: {terminal_safe(outage)}", file=sys.stderr)
            return 1
        if _is_unmigrated(exc):
            print(
                f"error: the database has no Run Studio schema yet ({terminal_safe(exc)}). "
                "Run `runstudio migrate` (or `runstudio up`), then try again.",
                file=sys.stderr,
            )
            return 1
        print(
            f"error: unexpected {type(exc).__name__}: {terminal_safe(exc)}\n"
            "Re-run with RUNSTUDIO_DEBUG=1 for a traceback, and report it if it persists.",
            file=sys.stderr,
        )
        return 1
    return 0


def _configured_outage(exc: Exception) -> ServiceUnavailableError | None:
    """``exc`` as "<service> at <address> is unreachable", judged against the configured endpoints."""
    try:
        settings = load_settings()
    except ValueError:
        return None
    # Nothing is started here: the embedded addresses are where the stack would be, which is what to name.
    database_url = settings.database_url or f"postgresql://@/?host={(settings.home / 'postgres').resolve()}"
    temporal_address = settings.temporal_address or f"the embedded dev server of {settings.home.resolve()}"
    endpoints = Endpoints(database_url, temporal_address, settings.temporal_namespace)
    return unavailable_error(exc, endpoints)


def _is_unmigrated(exc: Exception) -> bool:
    """True when a query met a database the migrations were never applied to."""
    import asyncpg  # only on this error path: the CLI's start-up stays free of the driver import

    return isinstance(exc, asyncpg.UndefinedTableError)


def main() -> None:
    """Console-script entry point."""
    code = run(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
