"""One module per command group; ``register_all`` mounts them on the root app.

Typer reads every command's signature when the app is built, so each listed module is imported on every
invocation, ``--help`` included. A command module therefore imports only Typer and ``runstudio``'s own light
helpers at its top; the engine, the drivers, the SDK, Textual, JSONata and jsonschema are imported inside
the command functions (names for annotations under ``TYPE_CHECKING``). ``tests/unit/test_import_budget.py``
holds every module here to that.
"""

from importlib import import_module
from typing import Final

import typer

COMMAND_MODULES: Final = (
    "up",
    "services",
    "admin",
    "worker",
    "runs",
    "controls",
    "cancel",
    "events",
    "expr",
    "schedules",
    "diff",
    "tui",
    "serve",
    "codec_server",
)
"""The command modules under ``runstudio.commands``, in the order their commands are listed in ``--help``.

Adding a command group is one line here (its module defines ``register(app)``)."""


def register_all(app: typer.Typer) -> None:
    """Attach every command group of ``COMMAND_MODULES`` to ``app``."""
    for name in COMMAND_MODULES:
        import_module(f"{__name__}.{name}").register(app)
