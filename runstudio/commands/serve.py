"""``runstudio serve``: the studio in a browser, one ``runstudio tui`` per browser session (textual-serve)."""

import errno
import json

import typer

from engine.errors import RunStudioError
from engine.inbound import MAX_NAME_LENGTH, check_text
from runstudio.context import options, run_async
from runstudio.errors import UsageProblem
from runstudio.options import JsonFlag

SERVE_HELP = "\n\n".join(
    (
        "Serve the studio in a browser: each browser tab runs its own `runstudio tui` on this machine, with this "
        "command's settings (database, Temporal, tenant) and this user's rights.",
        "Read-only by default: the studio hides every control that changes anything (start, replay, cancel, "
        "events, task answers), so the page is for watching. --allow-writes gives every control to whoever can "
        "open the page; on a shared machine or network that is everyone who learns the URL and token.",
        "Binds 127.0.0.1 by default. Any other address needs --token (or RUNSTUDIO_SERVE_TOKEN): the page and its "
        "websocket then require it, once as ?token=… in the printed URL, then as a cookie. The connection is "
        "plain HTTP: beyond one machine, put it behind TLS (a reverse proxy or an SSH tunnel). Ctrl-C stops "
        "serving and every session.",
    )
)
"""The command's help: what a browser session is, what read-only means, and the risk of --allow-writes."""


def register(app: typer.Typer) -> None:
    """Add ``serve`` to the root app."""
    app.command("serve", help=SERVE_HELP)(serve_command)


def serve_command(
    ctx: typer.Context,
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to bind. Anything but a loopback address requires --token."
    ),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="Port to bind (0 picks a free one)."),
    read_only: bool = typer.Option(
        True,
        "--read-only/--allow-writes",
        help="Read-only (default): browsers can only watch. --allow-writes lets anyone with the page start, "
        "replay and cancel runs, send events and answer tasks as you.",
    ),
    token: str | None = typer.Option(
        None,
        "--token",
        envvar="RUNSTUDIO_SERVE_TOKEN",
        show_envvar=True,
        help="Shared secret the browser must present (at least 16 characters); required off loopback. "
        "Prefer the environment variable: a command line is visible to other users of the machine.",
    ),
    as_json: JsonFlag = False,
) -> None:
    """Serve the studio in a browser (see the command's help text for what read-only and --token mean)."""
    from studio_tui.serve import MIN_TOKEN_LENGTH, ServeOptions, is_loopback, serve_until

    check_text(host, what="--host", max_length=MAX_NAME_LENGTH)
    if token is not None:
        check_text(token, what="--token", max_length=MAX_NAME_LENGTH)
        if len(token) < MIN_TOKEN_LENGTH:
            raise UsageProblem(
                f"--token must be at least {MIN_TOKEN_LENGTH} characters; make one with "
                '`python3 -c "import secrets; print(secrets.token_urlsafe())"`'
            )
    if token is None and not is_loopback(host):
        raise UsageProblem(
            f"--host {host} is reachable from other machines: give --token (or set RUNSTUDIO_SERVE_TOKEN) so only "
            "people with the secret can open the studio, or bind 127.0.0.1"
        )
    serve_options = ServeOptions(host=host, port=port, read_only=read_only, token=token, tenant=options(ctx).tenant)

    def ready(url: str, bound_port: int) -> None:
        if as_json:
            document = {"url": url, "host": host, "port": bound_port, "read_only": read_only}
            typer.echo(json.dumps(document | {"token_required": token is not None}))
        else:
            mode = "read-only" if read_only else "WRITES ALLOWED: anyone with this page can change runs"
            typer.echo(f"Serving the studio ({mode}) at {url}")
            typer.echo("Each browser tab runs its own studio on this machine. Ctrl-C stops serving.")

    async def go() -> None:
        import asyncio  # here: building the CLI (``--help`` too) never loads the event loop machinery
        import signal

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            await serve_until(serve_options, stop, ready)
        except OSError as exc:
            raise ServeBindError(host, port, exc) from exc

    run_async(go())


class ServeBindError(RunStudioError):
    """The address or port could not be bound (in use, not this machine's, not allowed)."""

    def __init__(self, host: str, port: int, exc: OSError) -> None:
        reason = "the port is in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
        super().__init__(f"cannot serve on {host}:{port}: {reason}; choose another --port or --host")
