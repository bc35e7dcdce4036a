"""The studio in a browser: textual-serve behind a token gate and a same-origin guard, engine-free.

textual-serve runs one shell command per browser session and relays its terminal over a websocket; here
that command is this interpreter's ``runstudio tui``, so a browser tab sees exactly the terminal studio
with the settings and environment ``serve`` was started with. This module adds only what textual-serve
lacks for exposing it: a shared-secret gate (``?token=`` once, then a cookie), a refusal of other hosts'
pages driving the websocket, and — on a loopback bind — a refusal of host names that are not loopback
(DNS rebinding would otherwise let a web page reach a studio bound to 127.0.0.1).
"""

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import shlex
import socket
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from aiohttp import web
from textual_serve.app_service import AppService
from textual_serve.server import Server, log, to_int

TOKEN_PARAM = "token"
"""The query parameter the first request of a browser presents the token in."""

MIN_TOKEN_LENGTH = 16
"""Shorter shared secrets are guessable over a network; ``serve`` refuses them."""

WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})
"""Bind addresses meaning "every interface": the printed URL names this machine instead."""

_SHUTDOWN_GRACE_SECONDS = 5.0
"""How long stopping waits for open sessions after telling their studios to quit."""


@dataclass(frozen=True)
class ServeOptions:
    """What ``runstudio serve`` was asked for, already checked by the command."""

    host: str
    port: int
    read_only: bool
    token: str | None
    tenant: str


def is_loopback(host: str) -> bool:
    """True for names only this machine can reach: ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    name = host.strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere: treat it as public


def studio_command(*, tenant: str, read_only: bool) -> str:
    """The shell command textual-serve runs per browser session: this interpreter's ``runstudio tui``."""
    argv = [sys.executable, "-c", "from runstudio.cli import main; main()", "--tenant", tenant, "tui"]
    if read_only:
        argv.append("--read-only")
    return shlex.join(argv)


def open_url(host: str, port: int, token: str | None) -> str:
    """The URL to open in a browser: the bound address (this machine's name for a wildcard), with the token."""
    name = socket.gethostname() if host in WILDCARD_HOSTS else host
    if ":" in name and not name.startswith("["):
        name = f"[{name}]"  # an IPv6 literal
    url = f"http://{name}:{port}/"
    return f"{url}?{TOKEN_PARAM}={quote(token, safe='')}" if token else url


def cookie_value(token: str) -> str:
    """What the cookie holds: a digest of the token, so the secret itself never sits in the browser's jar."""
    return hmac.new(token.encode("utf-8"), b"runstudio-serve-session", hashlib.sha256).hexdigest()


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _hostname(netloc: str) -> str:
    return urlsplit(f"//{netloc}").hostname or ""


PAGE_POLICY = {
    # Only this server's own scripts, styles and websocket: the page never calls out (textual-serve's
    # template links a web font, which would tell a third party each time someone opens the studio), and
    # no other site may frame it to steer clicks into a studio that allows writes.
    "Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-inline'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
"""Headers on every response."""


async def _add_page_policy(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(PAGE_POLICY)


class StudioServer(Server):
    """textual-serve's server with the guards above, and URLs built from the host the browser used."""

    def __init__(self, options: ServeOptions) -> None:
        super().__init__(
            studio_command(tenant=options.tenant, read_only=options.read_only),
            host=options.host,
            port=options.port,
            title="Run Studio (read-only)" if options.read_only else "Run Studio",
        )
        self._token = options.token
        self._loopback_only = is_loopback(options.host)
        self._sessions: set[asyncio.Task[object]] = set()
        # Per port, so two studios on one machine with different tokens do not overwrite each other's cookie.
        self.cookie_name = f"runstudio_serve_{options.port}"

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        app.middlewares.append(self._guard_middleware())
        app.on_response_prepare.append(_add_page_policy)
        return app

    def _guard_middleware(self) -> Callable[..., Awaitable[web.StreamResponse]]:
        @web.middleware
        async def guard(
            request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
        ) -> web.StreamResponse:
            refusal = self._refusal(request)
            if refusal is not None:
                return web.Response(status=403, text=refusal + "\n")
            if self._token is not None and TOKEN_PARAM in request.query and request.path != "/ws":
                # Accepted once from the URL, then kept as a cookie; the redirect drops the secret from the
                # address bar and history, and from what the page could leak as a referrer.
                response = web.HTTPFound(request.rel_url.without_query_params(TOKEN_PARAM))
                response.set_cookie(
                    self.cookie_name, cookie_value(self._token), httponly=True, samesite="Strict", path="/"
                )
                return response
            return await handler(request)

        return guard

    def _refusal(self, request: web.Request) -> str | None:
        """Why ``request`` is refused, or None when it may pass."""
        if self._loopback_only and not is_loopback(_hostname(request.host)):
            return "this studio answers only on a loopback address (open the URL `runstudio serve` printed)"
        origin = request.headers.get("Origin")
        if request.path == "/ws" and origin is not None and urlsplit(origin).netloc != request.host:
            return "the studio's websocket takes connections only from its own page"
        if self._token is None:
            return None
        given = request.query.get(TOKEN_PARAM)
        if given is not None:
            return None if _same(given, self._token) else "wrong token"
        if _same(request.cookies.get(self.cookie_name, ""), cookie_value(self._token)):
            return None
        return "this studio needs its token: open the URL `runstudio serve` printed (it ends in ?token=…)"

    async def handle_index(self, request: web.Request) -> web.StreamResponse:
        """The page, with its websocket and static URLs on the host the browser used (so the cookie is sent)."""
        # textual-serve builds them from one fixed public URL, which for a wildcard bind names no reachable
        # host. The parent reads it without awaiting in between, so concurrent requests cannot mix it up.
        self.public_url = f"{request.scheme}://{request.host}"
        response: web.StreamResponse = await super().handle_index(request)
        return response

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        """One browser session: its own studio process, its terminal relayed over this websocket.

        textual-serve 1.1.3's handler with two changes: the session is remembered so that stopping can end
        it, and it is a ``_StudioSession``, which closes the page's websocket when the studio exits.
        """
        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(task)
        websocket = web.WebSocketResponse(heartbeat=15)
        session: _StudioSession | None = None

        async def close() -> None:
            await websocket.close()

        try:
            await websocket.prepare(request)
            session = _StudioSession(
                self.command,
                write_bytes=websocket.send_bytes,
                write_str=websocket.send_str,
                close=close,
                download_manager=self.download_manager,
            )
            await session.start(
                to_int(request.query.get("width", "80"), 80), to_int(request.query.get("height", "24"), 24)
            )
            await self._process_messages(websocket, session)
        except asyncio.CancelledError:
            await websocket.close()
        except Exception:
            log.exception("studio session failed")
        finally:
            if session is not None:
                await session.stop()
            self._sessions.discard(task)
        return websocket

    async def on_startup(self, app: web.Application) -> None:
        """Print nothing: ``serve`` prints its own line once the port is bound."""

    async def on_shutdown(self, app: web.Application) -> None:
        """End every open session: textual-serve then tells each studio process to quit and waits for it."""
        for task in list(self._sessions):
            task.cancel()
        if self._sessions:
            await asyncio.wait(list(self._sessions), timeout=_SHUTDOWN_GRACE_SECONDS)


class _StudioSession(AppService):
    """A session whose page learns when its studio exited, however it ended."""

    async def run(self) -> None:
        """Relay the studio's output until it exits; then end the page's session."""
        await super().run()
        # textual-serve closes the websocket only when the app says goodbye: a studio that could not start
        # (a service down: its `error:` line goes to serve's output) would leave the page blank for good.
        # Closed, the page says "Session ended." and offers Restart.
        await self.remote_close()


async def serve_until(options: ServeOptions, stop: asyncio.Event, on_ready: Callable[[str, int], None]) -> None:
    """Serve the studio until ``stop`` is set; ``on_ready(url, port)`` once listening (port 0 picks a free one).

    Raises ``OSError`` when the address cannot be bound.
    """
    server = StudioServer(options)
    runner = web.AppRunner(await server._make_app(), handle_signals=False, access_log=None)
    await runner.setup()
    # textual-serve copies each session's stderr (a studio's `error:` line) to stdout: sent to stderr
    # instead, the ready line stays stdout's only content (with --json, one JSON document).
    stdout = sys.stdout
    with contextlib.redirect_stdout(sys.stderr):
        try:
            site = web.TCPSite(runner, options.host, options.port)
            await site.start()
            port = _bound_port(site, options.port)
            server.cookie_name = f"runstudio_serve_{port}"
            with contextlib.redirect_stdout(stdout):
                on_ready(open_url(options.host, port, options.token), port)
            await stop.wait()
        finally:
            await runner.cleanup()


def _bound_port(site: web.TCPSite, asked: int) -> int:
    # aiohttp keeps the listening sockets on the site's server: the only way to learn what port 0 chose.
    sockets = getattr(site._server, "sockets", None) or []
    return int(sockets[0].getsockname()[1]) if sockets else asked
