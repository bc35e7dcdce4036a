"""What orchestrators and operators watch: JSON logs with run context, /metrics and /healthz.

One HTTP port serves both paths. ``/metrics`` is the engine's counters followed by the Temporal SDK's
runtime metrics, which the SDK serves on a private loopback port that this endpoint relays.
"""

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from prometheus_client import generate_latest
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from engine import log_context
from engine.metrics import REGISTRY
from engine.temporal import TASK_QUEUE


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, bound context, exception."""

    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **log_context.CURRENT.get(),
        }
        if record.exc_info:
            event["exception"] = self.formatException(record.exc_info)
        return json.dumps(event, ensure_ascii=False, default=str)


def configure_logging(level: str, log_format: str) -> None:
    """Log to stderr as JSON lines (``json``, for containers) or readable text (``text``)."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def _free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def sdk_runtime() -> tuple[Runtime, str]:
    """A Temporal runtime exporting SDK metrics on a private loopback port; returns it and that address."""
    address = f"127.0.0.1:{_free_loopback_port()}"
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=address))), address


HealthCheck = Callable[[], Awaitable[bool]]


@contextlib.asynccontextmanager
async def serve(port: int, *, sdk_metrics_address: str | None, healthy: HealthCheck) -> AsyncIterator[int]:
    """Serve ``/metrics`` and ``/healthz`` on ``port`` (0 picks one) for the duration; yields the port."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = (await reader.readline()).decode("latin-1").split()
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass
            path = request_line[1] if len(request_line) > 1 else "/"
            if path == "/metrics":
                status, content_type, body = 200, "text/plain; version=0.0.4", await _metrics(sdk_metrics_address)
            elif path == "/healthz":
                ok = await _safely(healthy)
                status, content_type = (200 if ok else 503), "application/json"
                body = json.dumps({"status": "ok" if ok else "unhealthy", "task_queue": TASK_QUEUE}).encode()
            else:
                status, content_type, body = 404, "text/plain", b"not found\n"
            reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}[status]
            head = f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            writer.write(head.encode() + b"Connection: close\r\n\r\n" + body)
            await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "0.0.0.0", port)
    bound: int = server.sockets[0].getsockname()[1]
    try:
        yield bound
    finally:
        server.close()
        await server.wait_closed()


async def _safely(check: HealthCheck) -> bool:
    try:
        return await asyncio.wait_for(check(), timeout=2)
    except Exception:
        return False


async def _metrics(sdk_metrics_address: str | None) -> bytes:
    own = generate_latest(REGISTRY)
    if sdk_metrics_address is None:
        return own
    try:
        async with httpx.AsyncClient(timeout=2) as client:
            sdk = (await client.get(f"http://{sdk_metrics_address}/metrics")).content
    except httpx.HTTPError:
        sdk = b"# Temporal SDK metrics unavailable\n"
    return own + sdk
