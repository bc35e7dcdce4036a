"""The ``runstudio`` entry point: builds the Typer app from ``runstudio.commands`` and exits cleanly.

Processes that used a Temporal client can crash in interpreter finalisation (temporalio/sdk-python#300),
so ``main`` flushes and leaves with ``os._exit`` once the command has finished.
"""

import os
import sys
import traceback

import typer

from engine.errors import RunStudioError
from runstudio.commands import register_all
from runstudio.context import GlobalOptions
from runstudio.output import terminal_safe

app = typer.Typer(
    name="runstudio",
    help="Run Studio: authored workflows on Temporal, with a Postgres read-model and a terminal studio.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _global_options(
    ctx: typer.Context,
    tenant: str = typer.Option("default", "--tenant", help="Tenant whose data the command reads and writes."),
) -> None:
    ctx.obj = GlobalOptions(tenant=tenant)


register_all(app)


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code instead of exiting (used by ``main`` and tests).

    Typer runs in standalone mode, so usage errors print their help and every normal ending is a
    ``SystemExit``; our own errors become one ``error:`` line on stderr instead of a traceback.
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
        print(
            f"error: unexpected {type(exc).__name__}: {terminal_safe(exc)}\n"
            "Re-run with RUNSTUDIO_DEBUG=1 for a traceback, and report it if it persists.",
            file=sys.stderr,
        )
        return 1
    return 0


def main() -> None:
    """Console-script entry point."""
    code = run(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
