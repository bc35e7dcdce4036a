"""The ``runstudio`` entry point: builds the Typer app from ``runstudio.commands`` and exits cleanly.

Processes that used a Temporal client can crash in interpreter finalisation (temporalio/sdk-python#300),
so ``main`` flushes and leaves with ``os._exit`` once the command has finished.
"""

import os
import sys
from typing import Final

import typer
from typer._click.exceptions import ClickException, UsageError

from engine.errors import RunStudioError, ServiceUnavailableError
from engine.inbound import MAX_NAME_LENGTH, InboundRejected, check_text
from runstudio.commands import register_all
from runstudio.context import GlobalOptions, start_up_without_gc
from runstudio.errors import USAGE_EXIT, UsageProblem, print_error, with_help_hint

EXIT_CODES_HELP = (
    "Exit codes: 0 ok; 1 refused or failed (the reason is one `error:` line on stderr, e.g. a service "
    "that is unreachable, with `runstudio doctor` as the fix); 2 usage error (unknown command or option, "
    "bad argument) such as --payload that is not a JSON object, also one `error:` line, naming the command's "
    "--help; 130 interrupted. Every command accepts --json; a run id may be given as a unique prefix of 6+ hex "
    "characters."
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
        raise typer.BadParameter(str(exc), ctx=ctx, param_hint="--tenant") from exc
    ctx.obj = GlobalOptions(tenant=tenant)


register_all(app)


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code instead of exiting (used by ``main`` and tests).

    Every failure reaches the person as one ``error:`` line on stderr: a usage error (unknown command or
    option, missing or malformed argument, a value such as ``--payload`` that is not JSON) exits 2 and
    names the command's ``--help``; a refusal or failure (``RunStudioError``, an outage) exits 1.
    Typer runs outside standalone mode so that its boxed usage errors never reach the terminal.
    """
    try:
        code = app(args=argv, prog_name="runstudio", standalone_mode=False)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except UsageProblem as exc:
        return print_error(exc.message, exit_code=USAGE_EXIT)
    except ClickException as exc:
        return _click_error(exc)
    except typer.Abort:
        return print_error("aborted; nothing was changed")
    except RunStudioError as exc:
        return print_error(str(exc))
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get("RUNSTUDIO_DEBUG"):
            import traceback  # only here: it loads linecache and tokenize, which no command needs to run

            traceback.print_exc()
        outage = _configured_outage(exc)
        if outage is not None:
            return print_error(str(outage))
        if _is_unmigrated(exc):
            return print_error(
                f"the database has no Run Studio schema yet ({exc}). "
                "Run `runstudio migrate` (or `runstudio up`), then try again."
            )
        return print_error(
            f"unexpected {type(exc).__name__}: {exc}. "
            "Re-run with RUNSTUDIO_DEBUG=1 for a traceback, and report it if it persists."
        )
    return code if isinstance(code, int) else 0


def _click_error(exc: ClickException) -> int:
    """A usage error raised by the argument parser, as one ``error:`` line naming the command's help."""
    if type(exc).__name__ == "NoArgsIsHelpError":
        return USAGE_EXIT  # the help was printed already, which is the answer to "no arguments"
    if not isinstance(exc, UsageError):
        return print_error(exc.format_message(), exit_code=exc.exit_code)
    command = exc.ctx.command_path if exc.ctx is not None else "runstudio"
    return print_error(with_help_hint(exc.format_message(), command), exit_code=USAGE_EXIT)


def _configured_outage(exc: Exception) -> ServiceUnavailableError | None:
    """``exc`` as "<service> at <address> is unreachable", judged against the configured endpoints."""
    # Only on this error path: settings (pydantic) and the outage mapping stay out of every start-up.
    from engine.config import load_settings
    from engine.services.context import unavailable_error
    from engine.stack import Endpoints

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


PYDANTIC_PLUGINS_OFF: Final = "__all__"
"""``PYDANTIC_DISABLE_PLUGINS`` for the CLI's process unless the environment says otherwise.

Run Studio registers no pydantic plugin, and looking for one walks every installed distribution's entry points
(``importlib.metadata``) the first time a model is built: about 10 ms of every command's start-up for
nothing. Someone who installs a plugin and wants it in the CLI sets ``PYDANTIC_DISABLE_PLUGINS=`` (empty)."""


def main() -> None:
    """Console-script entry point."""
    start_up_without_gc()
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", PYDANTIC_PLUGINS_OFF)
    code = run(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
