"""A Temporal remote codec server on loopback, so Temporal's Web UI (and ``temporal --codec-endpoint``) can
show the payloads the project's codec encrypts.

It speaks the protocol of Temporal's codec endpoints: ``POST /encode`` and ``POST /decode`` take and return
``{"payloads": [{"metadata": {k: base64}, "data": base64}]}`` (protobuf JSON of ``Payloads``). Browsers may
call it only from the one UI origin it is given (CORS, with the ``OPTIONS`` preflight); a request carrying any
other ``Origin`` is refused. It binds 127.0.0.1 only — but every process on this machine that can reach the
port can decrypt with it, which is why it is off unless ``runstudio codec-server`` runs.
"""

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from aiohttp import web
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload, Payloads

from engine.errors import ConfigurationError, RunStudioError
from engine.keyring import Keyring
from engine.temporal.codec import EncryptionCodec, payload_key_id

log = logging.getLogger("runstudio.codec_server")

HOST: Final = "127.0.0.1"
MAX_BODY_BYTES: Final = 8 * 1024 * 1024
"""Temporal caps one payload at 2 MB by default; a few of them fit."""

ALLOWED_HEADERS: Final = "content-type,x-namespace"
"""What Temporal's UI sends: the JSON body and the namespace it is showing."""


@dataclass(frozen=True)
class CodecServerOptions:
    """How the codec server runs."""

    keyring: Keyring
    namespace: str
    """Requests naming another namespace (``X-Namespace``) are refused: the keyring is this namespace's."""
    ui_origin: str | None = None
    """The one browser origin allowed (``scheme://host:port``); ``None`` allows no browser at all."""
    port: int = 8081


def normalize_origin(url: str) -> str:
    """``scheme://host[:port]`` of a URL (a UI address may carry a path or a trailing slash)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(f"UI origin {url!r} must be an http(s) URL such as http://127.0.0.1:8233")
    return f"{parts.scheme}://{parts.netloc}"


def build_app(options: CodecServerOptions) -> web.Application:
    """The aiohttp application serving ``/encode`` and ``/decode``."""
    codec = EncryptionCodec(options.keyring)

    def cors_headers(request: web.Request) -> dict[str, str]:
        origin = request.headers.get("Origin")
        if origin is None or origin != options.ui_origin:
            return {}
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": ALLOWED_HEADERS,
            "Access-Control-Max-Age": "600",
            "Vary": "Origin",
        }

    def refusal(request: web.Request) -> web.Response | None:
        origin = request.headers.get("Origin")
        if origin is not None and origin != options.ui_origin:
            # Without CORS headers a browser could not read the answer, but a "simple" cross-site POST would
            # still be decrypted: refuse any page that is not the configured UI outright.
            return web.json_response({"error": f"origin {origin} is not allowed"}, status=403)
        namespace = request.headers.get("X-Namespace")
        if namespace is not None and namespace != options.namespace:
            return web.json_response(
                {"error": f"namespace {namespace} is not served here (only {options.namespace})"},
                status=403,
                headers=cors_headers(request),
            )
        return None

    async def preflight(request: web.Request) -> web.Response:
        if request.headers.get("Origin") != options.ui_origin:
            return web.Response(status=403)
        return web.Response(status=204, headers=cors_headers(request))

    def endpoint(transform: Callable[[Payload], Payload]) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            refused = refusal(request)
            if refused is not None:
                return refused
            if request.content_type != "application/json":
                return web.json_response(
                    {"error": "the body must be application/json"}, status=415, headers=cors_headers(request)
                )
            try:
                payloads = json_format.Parse(await request.read(), Payloads())
            except (json_format.ParseError, UnicodeDecodeError) as exc:
                return web.json_response(
                    {"error": f"not a Payloads JSON document: {exc}"}, status=400, headers=cors_headers(request)
                )
            result = Payloads(payloads=[transform(p) for p in payloads.payloads])
            return web.Response(
                text=json_format.MessageToJson(result),
                content_type="application/json",
                headers=cors_headers(request),
            )

        return handle

    def decode_one(payload: Payload) -> Payload:
        try:
            return codec.open(payload)
        except (RunStudioError, DecodeError) as exc:
            # One payload under a key this keyring lacks must not blank the whole page: the UI shows that one
            # still encrypted, and the log says which key is missing.
            log.warning("cannot decode a payload (key id %s): %s", payload_key_id(payload), exc)
            return payload

    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.router.add_post("/encode", endpoint(codec.seal))
    app.router.add_post("/decode", endpoint(decode_one))
    app.router.add_route("OPTIONS", "/encode", preflight)
    app.router.add_route("OPTIONS", "/decode", preflight)
    return app


async def start(options: CodecServerOptions) -> tuple[web.AppRunner, int]:
    """Start serving on ``127.0.0.1:options.port`` (0 picks a free port); the runner and the bound port."""
    runner = web.AppRunner(build_app(options), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, HOST, options.port)
    try:
        await site.start()
    except OSError:
        await runner.cleanup()
        raise
    server = site._server  # aiohttp exposes the bound sockets only here
    sockets = getattr(server, "sockets", None) or []
    port = int(sockets[0].getsockname()[1]) if sockets else options.port
    return runner, port
