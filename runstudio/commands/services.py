"""``runstudio services start|stop|status``: the embedded Postgres and Temporal dev server (SPEC §2)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from runstudio.errors import UsageProblem
from runstudio.lazy import lazy_module, load_settings
from runstudio.options import JsonFlag
from runstudio.output import print_json

if TYPE_CHECKING:
    from engine import devstack
    from engine.config import Settings
else:
    devstack = lazy_module("engine.devstack")  # process tools and the SDK load only when a command runs


def register(app: typer.Typer) -> None:
    """Add the ``services`` command group to the root app."""
    services_app = typer.Typer(
        name="services",
        help="Start, stop and inspect the embedded Postgres and Temporal dev server "
        "(data under RUNSTUDIO_HOME, default ./.runstudio).",
        no_args_is_help=True,
    )
    services_app.command("start")(start_command)
    services_app.command("stop")(stop_command)
    services_app.command("status")(status_command)
    app.add_typer(services_app, name="services")


def start_command(
    print_env: bool = typer.Option(
        False,
        "--print-env",
        help="Print only `export VAR=…` lines for the stack (use with eval) and leave it running.",
    ),
    as_json: JsonFlag = False,
) -> None:
    """Start the embedded Postgres and Temporal dev server, or reuse them if already running.

    With --json: {"home", "database_url", "temporal_address", "temporal_namespace", "temporal_ui_url",
    "services": […]}, each service as `services status --json` shows it.
    """
    if print_env and as_json:
        raise UsageProblem("give --print-env or --json, not both")
    settings = load_settings()
    home = settings.home.expanduser().resolve()
    if settings.database_url is not None or settings.temporal_address is not None:
        # Other commands prefer the configured services; say so rather than leave it to surprise.
        typer.echo(
            "note: RUNSTUDIO_DATABASE_URL / TEMPORAL_ADDRESS are set, so other commands use those "
            "services instead of this embedded stack.",
            err=True,
        )
    typer.echo(f"Starting the embedded stack in {home} …", err=True)
    endpoints = devstack.start(home)
    if print_env:
        typer.echo(f"export RUNSTUDIO_DATABASE_URL={shlex.quote(endpoints.database_url)}")
        typer.echo(f"export TEMPORAL_ADDRESS={shlex.quote(endpoints.temporal_address)}")
        typer.echo(f"export TEMPORAL_NAMESPACE={shlex.quote(endpoints.temporal_namespace)}")
        typer.echo(f"export TEMPORAL_UI_URL={shlex.quote(endpoints.temporal_ui_url)}")
        if settings.encryption_keys is None:
            # Every process of this stack must share its keys: a shell elsewhere (another RUNSTUDIO_HOME)
            # would otherwise generate its own and write payloads the worker cannot read.
            typer.echo(f"export RUNSTUDIO_ENCRYPTION_KEY_FILE={shlex.quote(str(_key_file(settings, home)))}")
        return
    stack = devstack.status(home)
    if as_json:
        print_json(
            {
                "home": str(home),
                "database_url": endpoints.database_url,
                "temporal_address": endpoints.temporal_address,
                "temporal_namespace": endpoints.temporal_namespace,
                "temporal_ui_url": endpoints.temporal_ui_url,
                "services": [_service_json(s) for s in (stack.postgres, stack.temporal)],
            }
        )
        return
    for service in (stack.postgres, stack.temporal):
        typer.echo(_status_line(service))
    typer.echo(f"data dir  {home}")
    typer.echo("Stop them with `runstudio services stop`.")


def stop_command(as_json: JsonFlag = False) -> None:
    """Stop the embedded Postgres and Temporal dev server of this home directory.

    With --json: {"home", "stopped": [one line per stopped process]}.
    """
    home = load_settings().home.expanduser().resolve()
    stopped = devstack.stop(home)
    if as_json:
        print_json({"home": str(home), "stopped": stopped})
        return
    if not stopped:
        typer.echo(f"Nothing was running for {home}.")
    for line in stopped:
        typer.echo(f"stopped {line}")


def status_command(as_json: JsonFlag = False) -> None:
    """Show whether the embedded Postgres and Temporal dev server are running (always exits 0).

    With --json: {"home", "services": [{"name", "running", "ready", "pid", "address", "data_path", "ui_url"},
    …]}; ``ui_url`` is Temporal's Web UI of a running dev server (null otherwise, and for Postgres).
    """
    stack = devstack.status(load_settings().home)
    if as_json:
        print_json(
            {
                "home": str(_absolute(stack.home)),
                "services": [_service_json(s) for s in (stack.postgres, stack.temporal)],
            }
        )
        return
    for service in (stack.postgres, stack.temporal):
        typer.echo(_status_line(service))


def _service_json(service: devstack.ServiceStatus) -> dict[str, Any]:
    return {
        "name": service.name,
        "running": service.running,
        "ready": service.ready,
        "pid": service.pid,
        "address": service.address,
        "data_path": str(_absolute(service.data_path)),
        "ui_url": service.ui_url,
    }


def _absolute(path: Path) -> Path:
    return path.expanduser().resolve()


def _status_line(service: devstack.ServiceStatus) -> str:
    if not service.running:
        return f"{service.name:<9} stopped   (data {service.data_path})"
    state = "running" if service.ready else "running, not answering"
    line = f"{service.name:<9} {state}  pid {service.pid}  {service.address}"
    return f"{line}  web UI {service.ui_url}" if service.ui_url else line


def _key_file(settings: Settings, home: Path) -> Path:
    """The stack's key file (created now if it is the embedded one and does not exist yet), absolute."""
    from engine.keyring import EMBEDDED_KEY_FILE, load_keyring

    load_keyring(settings)
    path = settings.encryption_key_file or home / EMBEDDED_KEY_FILE
    return path.expanduser().resolve()
