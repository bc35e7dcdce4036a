"""``runstudio codec-server``: Temporal's remote codec endpoints on loopback, for reading payloads in its Web UI."""

import errno
import json
from typing import TYPE_CHECKING

import typer

from engine.errors import RunStudioError
from runstudio.context import run_async
from runstudio.errors import UsageProblem
from runstudio.options import JsonFlag

if TYPE_CHECKING:
    from engine.config import Settings
    from engine.services.codec_server import CodecServerOptions

CODEC_SERVER_HELP = "\n\n".join(
    (
        "Serve Temporal's codec endpoints (POST /encode, POST /decode) on 127.0.0.1, so Temporal's Web UI — or "
        "`temporal workflow show --codec-endpoint URL` — shows the payloads the project encrypts in plain text.",
        "For local development only, and off unless this command runs. RISK: it decrypts for anyone who can "
        "reach the port — every user and process on this machine, and anyone a tunnel or proxy lets in. Browsers "
        "are limited to the one UI origin (--ui-origin, default TEMPORAL_UI_URL); other pages are refused. "
        "Stop it (Ctrl-C) when you are done.",
        "In the UI: set the codec server endpoint (the data-encoder icon) to the URL this command prints.",
    )
)
"""The command's help: what it serves, and who can decrypt while it runs."""


def register(app: typer.Typer) -> None:
    """Add ``codec-server`` to the root app."""
    app.command("codec-server", help=CODEC_SERVER_HELP)(codec_server_command)


def codec_server_command(
    port: int = typer.Option(8081, "--port", min=0, max=65535, help="Port on 127.0.0.1 (0 picks a free one)."),
    ui_origin: str | None = typer.Option(
        None,
        "--ui-origin",
        help="The Temporal Web UI's origin, e.g. http://127.0.0.1:8233: the only page allowed to call the "
        "server. Default: TEMPORAL_UI_URL, else the running embedded stack's UI; without one, no browser may call it.",
    ),
    as_json: JsonFlag = False,
) -> None:
    """Serve Temporal's codec endpoints on loopback (see the command's help text for the risk)."""
    from engine.config import load_settings
    from engine.keyring import load_keyring
    from engine.services.codec_server import CodecServerOptions, normalize_origin, start

    settings = load_settings()
    given = ui_origin or _default_ui(settings)
    try:
        origin = normalize_origin(given) if given else None
    except RunStudioError as exc:
        raise UsageProblem(f"--ui-origin: {exc}") from None
    server_options = CodecServerOptions(
        keyring=load_keyring(settings), namespace=settings.temporal_namespace, ui_origin=origin, port=port
    )

    async def go() -> None:
        import asyncio  # here: building the CLI (``--help`` too) never loads the event loop machinery
        import signal

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            runner, bound = await start(server_options)
        except OSError as exc:
            raise CodecServerBindError(port, exc) from exc
        try:
            _announce(f"http://127.0.0.1:{bound}", bound, server_options, as_json=as_json)
            await stop.wait()
        finally:
            await runner.cleanup()

    run_async(go())


def _default_ui(settings: "Settings") -> str | None:
    if settings.temporal_ui_url or settings.temporal_address is not None:
        return settings.temporal_ui_url
    from engine import devstack

    # The embedded stack's UI, if it runs (never started from here: a codec server needs no Temporal).
    return devstack.status(settings.home).temporal.ui_url


def _announce(url: str, port: int, options: "CodecServerOptions", *, as_json: bool) -> None:
    origin = options.ui_origin
    if as_json:
        document = {"url": url, "port": port, "ui_origin": origin, "namespace": options.namespace}
        typer.echo(json.dumps(document | {"key_ids": list(options.keyring.ids)}), nl=True)
        return
    typer.echo(f"Codec server at {url} (namespace {options.namespace}, keys {', '.join(options.keyring.ids)})")
    if origin is None:
        typer.echo("No UI origin given (--ui-origin or TEMPORAL_UI_URL): browsers are refused.")
    else:
        typer.echo(f"Browsers allowed from {origin} only. Anyone on this machine who reaches the port can decrypt.")
    typer.echo("Ctrl-C stops it.")


class CodecServerBindError(RunStudioError):
    """The port could not be bound (in use, not allowed)."""

    def __init__(self, port: int, exc: OSError) -> None:
        reason = "the port is in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
        super().__init__(f"cannot serve the codec on 127.0.0.1:{port}: {reason}; choose another --port")
