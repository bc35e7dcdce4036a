"""Start-up stays light: which modules a CLI invocation imports, checked as module sets and counts (never times).

Each case runs in a fresh interpreter and reports ``sys.modules`` as it exits, so every module that was imported
is seen, in whichever function or thread and by whichever means (``-X importtime`` misses what
``importlib.import_module`` loads, which is how the commands are registered). The heavy packages below are what
made ``runstudio --help`` take 1.4 s: a command loads them when it runs, never to be listed or to print its help.
The lighter ones after them are each a measurable slice of a command's start-up that it does not use.
"""

import json
import os
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

NOT_ON_THE_RUNS_PATH = frozenset(
    {
        "engine.temporal.contracts",  # the workflow's models: ``runs`` and ``show`` need only the run statuses
        "engine.interpreter",
        "pydantic_settings",  # the settings are a plain model
        "typer.rich_utils",  # Typer's Rich help, when no help is printed
        "rich.markdown",
        "rich.traceback",
    }
)
"""Modules ``runstudio runs`` and ``show`` (and the studio's first paint) do without."""

MODULE_BUDGET = {"--help": 375, "runs": 425, "show": 425}
"""At most this many modules in ``sys.modules`` when the command exits (measured: 358, 404, 405). A heavy
package back on a path (pydantic-settings alone is ~30 modules, Textual ~150) breaks the budget."""

_REPORT = "\n".join(
    [
        "import atexit as _atexit, json as _json, sys as _sys",
        "_atexit.register(lambda: print('MODULES ' + _json.dumps(sorted(_sys.modules)), file=_sys.stderr))",
        "",
    ]
)
"""Prefixed to the probed code: the modules loaded, printed when the interpreter exits."""


def loaded(
    code: str, *args: str, home: Path = Path("/nonexistent/runstudio-home"), env: dict[str, str] | None = None
) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    """Every module ``python -c code args`` had in ``sys.modules`` when it exited, and the process.

    ``home`` is ``RUNSTUDIO_HOME``: a command that opens the services writes its key file there.
    """
    result = subprocess.run(
        [sys.executable, "-c", _REPORT + code, *args],
        capture_output=True,
        text=True,
        env={**offline_env(home), **(env or {})},
        cwd=Path(__file__).resolve().parents[2],
        timeout=120,
    )
    reports = [line for line in result.stderr.splitlines() if line.startswith("MODULES ")]
    assert reports, f"the probe did not report (exit {result.returncode}): {result.stderr[-2000:]}"
    result.stderr = "\n".join(line for line in result.stderr.splitlines() if not line.startswith("MODULES "))
    return set(json.loads(reports[-1].removeprefix("MODULES "))), result


def imported(
    code: str, *args: str, home: Path = Path("/nonexistent/runstudio-home")
) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    """The top-level packages ``python -c code args`` imported, and the process (see ``loaded``)."""
    modules, result = loaded(code, *args, home=home)
    return {name.split(".")[0] for name in modules}, result


def under(modules: set[str], packages: frozenset[str]) -> set[str]:
    """The modules of ``modules`` that are one of ``packages`` or inside one."""
    return {m for m in modules if any(m == p or m.startswith(p + ".") for p in packages)}


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


def test_the_probe_sees_modules_that_import_module_loads() -> None:
    # The commands are registered through importlib.import_module, which -X importtime does not report.
    modules, _ = loaded("import importlib\nimportlib.import_module('json')")
    assert "json" in modules


@pytest.mark.parametrize("args", [["runs"], ["show", "0123456789ab"]])
def test_listing_or_showing_runs_loads_neither_the_workflow_contracts_nor_help_machinery(
    args: list[str], tmp_path: Path
) -> None:
    modules, result = loaded(ENTRY, *args, home=tmp_path)
    assert "127.0.0.1:1" in result.stderr  # it got as far as connecting: the command's own imports are done
    assert {"engine.services.runs", "asyncpg"} <= modules
    assert under(modules, NOT_ON_THE_RUNS_PATH | (HEAVY - {"asyncpg"})) == set()
    assert len(modules) <= MODULE_BUDGET[args[0]], f"{len(modules)} modules"


def test_help_loads_no_event_loop_models_or_driver() -> None:
    modules, result = loaded(ENTRY, "--help")
    assert "Usage" in result.stdout
    assert under(modules, frozenset({"asyncio", "pydantic", "asyncpg", "engine.config", "engine.store"})) == set()
    assert len(modules) <= MODULE_BUDGET["--help"], f"{len(modules)} modules"


def test_the_run_filters_load_no_driver_and_no_models() -> None:
    # The CLI checks --since and --trigger with them before it connects to anything.
    modules, _ = loaded("import engine.services.run_filters")
    assert under(modules, frozenset({"asyncpg", "pydantic", "engine.store", "engine.temporal"})) == set()


def test_the_studio_loads_no_workflow_contracts_for_its_first_paint() -> None:
    modules, _ = loaded("import runstudio.commands.tui, studio_tui.app")
    assert "studio_tui.screens.runs" in modules
    assert under(modules, NOT_ON_THE_RUNS_PATH - {"rich.markdown", "rich.traceback", "typer.rich_utils"}) == set()


PLUGIN_SCANS = """
import importlib.metadata, os, sys
_scan = importlib.metadata.entry_points
def entry_points(**selection):
    with open(os.environ["SCANS_FILE"], "a") as out:  # main() leaves through os._exit: write now
        out.write(str(selection.get("group")) + "\\n")
    return _scan(**selection)
importlib.metadata.entry_points = entry_points
sys.argv[0] = "runstudio"
from runstudio.cli import main
main()
"""
"""``runstudio`` through its console-script ``main``, noting every entry-point scan in ``$SCANS_FILE``."""


@pytest.mark.parametrize(("setting", "scanned"), [(None, False), ("", True)])
def test_main_skips_the_pydantic_plugin_scan_unless_the_environment_asks(
    setting: str | None, scanned: bool, tmp_path: Path
) -> None:
    scans = tmp_path / "scans"
    scans.touch()
    env = {**offline_env(tmp_path), "SCANS_FILE": str(scans)}
    env.pop("PYDANTIC_DISABLE_PLUGINS", None)
    if setting is not None:
        env["PYDANTIC_DISABLE_PLUGINS"] = setting
    result = subprocess.run(
        [sys.executable, "-c", PLUGIN_SCANS, "runs"], capture_output=True, text=True, env=env, timeout=120
    )
    assert "127.0.0.1:1" in result.stderr  # models were built and validated before it tried to connect
    assert ("pydantic" in scans.read_text().split()) is scanned
