"""Start-up stays light: which modules a CLI invocation imports, checked as module sets (never as times).

Each case runs in a fresh interpreter under ``python -X importtime``, which names every module that was
imported, in whichever function it happened. The heavy packages below are what made ``runstudio --help``
take 1.4 s: a command loads them when it runs, never to be listed or to print its help.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = frozenset({"temporalio", "textual", "asyncpg", "jsonata", "re2", "jsonschema"})
"""Never imported to build the CLI or print a help."""

ENTRY = "import sys; from runstudio.cli import run; sys.exit(run(sys.argv[1:]))"
"""``runstudio`` as the console script runs it (without its ``os._exit``, so the interpreter reports all)."""

REGISTER_EVERY_MODULE = """
import pkgutil, sys, typer
import runstudio.commands as commands
from importlib import import_module
app = typer.Typer()
for info in pkgutil.iter_modules(commands.__path__):
    import_module(f"runstudio.commands.{info.name}").register(app)
typer.main.get_command(app)
"""
"""Every module in ``runstudio/commands``, registered or not yet: a new one is held to the budget at once."""

_IMPORT_LINE = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|(?P<indent>\s+)(?P<name>\S+)$")


def imported(
    code: str, *args: str, home: Path = Path("/nonexistent/runstudio-home")
) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    """The top-level packages ``python -c code args`` imported (per ``-X importtime``), and the process.

    ``home`` is ``RUNSTUDIO_HOME``: a command that opens the services writes its key file there.
    """
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code, *args],
        capture_output=True,
        text=True,
        env=offline_env(home),
        cwd=Path(__file__).resolve().parents[2],
        timeout=120,
    )
    names = {m.group("name").split(".")[0] for line in result.stderr.splitlines() if (m := _IMPORT_LINE.match(line))}
    return names, result


def offline_env(home: Path) -> dict[str, str]:
    """The environment with services configured where nothing listens, so no command starts the embedded stack."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNSTUDIO_", "TEMPORAL_"))}
    env.update(
        RUNSTUDIO_DATABASE_URL="postgresql://runstudio@127.0.0.1:1/nothing",
        TEMPORAL_ADDRESS="127.0.0.1:1",
        RUNSTUDIO_HOME=str(home),
    )
    return env


def test_the_probe_sees_modules_imported_inside_functions() -> None:
    # The guard is only as good as its eyes: a lazily imported module must show up too.
    names, _ = imported("def later():\n    import json\nlater()")
    assert "json" in names


def test_building_the_cli_imports_nothing_heavy() -> None:
    names, _ = imported("import runstudio.cli")
    assert "typer" in names
    assert names & HEAVY == set()


@pytest.mark.parametrize("args", [["--help"], ["runs", "--help"], ["publish", "--help"], ["tui", "--help"]])
def test_help_imports_nothing_heavy(args: list[str]) -> None:
    names, result = imported(ENTRY, *args)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Usage" in result.stdout
    assert names & HEAVY == set()


def test_every_command_module_registers_without_anything_heavy() -> None:
    names, result = imported(REGISTER_EVERY_MODULE)
    assert result.returncode == 0, result.stderr[-2000:]
    assert names & HEAVY == set()


def test_runs_loads_the_driver_but_never_textual(tmp_path: Path) -> None:
    names, result = imported(ENTRY, "runs", home=tmp_path)
    # Nothing listens at the configured database: the command got as far as connecting, and said so.
    assert result.returncode == 1
    assert "error:" in result.stderr and "127.0.0.1:1" in result.stderr
    assert "asyncpg" in names
    assert "textual" not in names


def test_validating_a_definition_or_a_payload_needs_no_temporal_sdk() -> None:
    names, _ = imported("import engine.dsl.validate, engine.services.payloads, runstudio.options")
    assert "jsonschema" in names
    assert names & {"temporalio", "textual", "asyncpg"} == set()


def test_the_services_facade_loads_neither_driver_nor_sdk_until_used() -> None:
    names, _ = imported("import engine.services.context, engine.stack")
    assert names & {"temporalio", "asyncpg", "textual"} == set()


def test_the_studio_paints_its_list_without_the_temporal_sdk_or_the_run_screen() -> None:
    # What the first paint needs; the SDK loads when the health check starts, the run screen on a thread.
    names, _ = imported("import runstudio.commands.tui, studio_tui.app")
    assert {"textual", "asyncpg"} <= names
    assert names & {"temporalio", "jsonata", "re2", "jsonschema"} == set()
