"""The one way a command reports failure: a single ``error: …`` line on stderr and an exit code.

Exit codes (also in ``runstudio --help``): 1 when the command was understood but refused or failed,
2 when the command line itself is wrong — an unknown command or option, a missing argument, or a value
that cannot be read as what the option takes (``--payload`` that is not a JSON object, an unreadable
``@FILE``, ``--now`` that is not a date). A value that is well formed but refused (a payload that fails
the workflow's schema, an unknown run id) is a refusal: exit 1.
"""

import sys

from typer._click.globals import get_current_context

from runstudio.output import terminal_safe

REFUSED_EXIT = 1
USAGE_EXIT = 2


class UsageProblem(Exception):
    """The command line cannot be used as given; ``message`` says what to change (exit 2).

    Raised while a command runs, it also names that command's ``--help``.
    """

    def __init__(self, message: str) -> None:
        context = get_current_context(silent=True)
        self.message = with_help_hint(message, context.command_path if context is not None else None)
        super().__init__(self.message)


def with_help_hint(message: str, command_path: str | None) -> str:
    """``message; see `runstudio start --help``` — what to read next after a usage error."""
    if command_path is None or "--help" in message:
        return message
    return f"{message.rstrip('.')}; see `{command_path} --help`"


def error_line(message: object) -> str:
    """``message`` as the one ``error:`` line: terminal-safe, its line breaks folded into spaces."""
    return "error: " + " ".join(terminal_safe(message).split("\n")).strip()


def print_error(message: object, *, exit_code: int = REFUSED_EXIT) -> int:
    """Print ``error_line(message)`` to stderr and return ``exit_code`` for the caller to exit with."""
    print(error_line(message), file=sys.stderr)
    return exit_code
