"""A tiny HTTP/1.1 server on 127.0.0.1 for http.request tests, built on asyncio streams.

Routes: ``/echo`` (200 JSON describing the request), ``/text`` (200 text of ``?bytes=N`` UTF-8 bytes),
``/not-json`` (JSON content type, invalid body), ``/status/<code>``, ``/redirect`` (302 elsewhere),
``/hang`` (reads the request and never answers), ``/huge`` (a body over http.request's limit).
"""

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from engine.actions.builtin.http import MAX_BODY_BYTES


@dataclass
class LocalServer:
    """Where the server listens and how many connections it accepted."""

    port: int
    connections: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)
    """Set at shutdown so /hang handlers return."""

    def url(self, path: str) -> str:
        """Return ``http://127.0.0.1:<port><path>``."""
        return f"http://127.0.0.1:{self.port}{path}"


@asynccontextmanager
async def local_http_server() -> AsyncIterator[LocalServer]:
    """Run the server for the duration of the ``async with`` block."""
    state = LocalServer(port=0)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.connections += 1
        try:
            await _serve_one(reader, writer, state)
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        state.release.set()
        server.close()
        await server.wait_closed()


async def _serve_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, state: LocalServer) -> None:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    request_line, *header_lines = head.rstrip("\r\n").split("\r\n")
    method, target, _ = request_line.split(" ", 2)
    headers = {name.strip().lower(): value.strip() for name, value in (h.split(":", 1) for h in header_lines)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    parts = urlsplit(target)

    if parts.path == "/hang":
        await state.release.wait()
        return
    status, content_type, payload, extra = _route(method, parts.path, parse_qs(parts.query), headers, body)
    lines = [f"HTTP/1.1 {status} X", f"Content-Type: {content_type}", f"Content-Length: {len(payload)}"]
    lines += [f"{name}: {value}" for name, value in extra.items()]
    writer.write(("\r\n".join([*lines, "Connection: close", "", ""])).encode("latin-1") + payload)
    await writer.drain()


def _route(
    method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: bytes
) -> tuple[int, str, bytes, dict[str, str]]:
    if path == "/echo":
        described = {"method": method, "header": headers.get("x-test"), "body": body.decode()}
        return 200, "application/json; charset=utf-8", json.dumps(described).encode(), {"X-Reply": "yes"}
    if path == "/text":
        return 200, "text/plain; charset=utf-8", ("é" * (int(query["bytes"][0]) // 2)).encode(), {}
    if path == "/not-json":
        return 200, "application/json", b"{oops", {}
    if path.startswith("/status/"):
        return int(path.removeprefix("/status/")), "text/plain", b"server says no", {}
    if path == "/redirect":
        return 302, "text/plain", b"", {"Location": "http://elsewhere.example/"}
    if path == "/huge":
        return 200, "application/octet-stream", b"x" * (MAX_BODY_BYTES + 1), {}
    return 404, "text/plain", b"no such route", {}
