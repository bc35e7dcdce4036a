"""What orchestrators and operators watch: JSON logs with run context, /metrics and /healthz.

One HTTP port (``RUNSTUDIO_METRICS_PORT``) serves both paths, so a container exposes one port.
``/metrics`` is the engine's counters (``engine.metrics``), this process's own CPU/memory/GC metrics,
then the Temporal SDK's runtime metrics, which the SDK serves on a private loopback port that this
endpoint relays. ``/healthz`` answers 200 while the health check given to ``serve`` passes, else 503.

The counters other code increments live in ``engine.metrics`` (the engine must not import the worker):
``RUNS_STARTED``, ``RUNS_FINISHED.labels(status=…)``, ``STEPS.labels(status=…)``,
``INGRESS_EVENTS.labels(outcome=…, source=…)`` and ``RECONCILER_FIXES.labels(status=…)``.
"""

import asyncio
import contextlib
import dataclasses
import json
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Final

import httpx
from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector, generate_latest
from temporalio.runtime import LogForwardingConfig, LoggingConfig, PrometheusConfig, Runtime, TelemetryConfig

from engine import log_context
from engine.metrics import REGISTRY
from engine.temporal import TASK_QUEUE

log = logging.getLogger("runstudio.worker.observability")

# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is logged as a field.
_STANDARD_ATTRS: Final = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}

# The process collectors are kept out of engine.metrics.REGISTRY: they describe this worker process,
# not the engine, and tests that read REGISTRY should not see them.
_PROCESS_REGISTRY: Final = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=_PROCESS_REGISTRY)
PlatformCollector(registry=_PROCESS_REGISTRY)
GCCollector(registry=_PROCESS_REGISTRY)

_JSON_TYPES: Final = (str, int, float, bool, type(None), dict, list, tuple)

REQUEST_TIMEOUT = 5.0
"""Seconds a client has to send its request line and headers, so an idle connection cannot linger."""


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, the bound run context, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as a single line of JSON (newlines in values are escaped by JSON)."""
        event: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        # ``extra=`` fields, e.g. the Temporal SDK's ``temporal_activity`` dict on activity.logger lines;
        # opaque objects (the SDK core's ``temporal_log`` entry) would only print as a repr, so they are left out.
        event.update(
            (k, v)
            for k, v in record.__dict__.items()
            if k not in _STANDARD_ATTRS and k not in event and isinstance(v, _JSON_TYPES)
        )
        event.update(log_context.CURRENT.get())
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
    # httpx logs every request at INFO, which would be one line per scrape of the relayed SDK metrics.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))


def _free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def sdk_runtime(*, metrics: bool, forward_logs: bool) -> tuple[Runtime | None, str | None]:
    """The Temporal SDK runtime for the worker, and the loopback address of its metrics (if any).

    With ``metrics``, the SDK exports its runtime metrics on a private loopback port, kept off the network
    because ``/metrics`` relays it: operators scrape one port per worker. With ``forward_logs``, the SDK
    core's own warnings go through Python logging (so they are JSON lines too) instead of straight to
    stderr. With neither, the SDK's default runtime is used (``None``).
    """
    if not (metrics or forward_logs):
        return None, None
    address = f"127.0.0.1:{_free_loopback_port()}" if metrics else None
    logging_config = LoggingConfig.default
    if forward_logs:
        forwarding = LogForwardingConfig(logger=logging.getLogger("temporalio.core"), prepend_target_on_message=False)
        logging_config = dataclasses.replace(logging_config, forwarding=forwarding)
    telemetry = TelemetryConfig(
        logging=logging_config, metrics=PrometheusConfig(bind_address=address) if address else None
    )
    return Runtime(telemetry=telemetry), address


HealthCheck = Callable[[], Awaitable[bool]]
"""An async predicate: True while the process does its job. Raising or taking over 2 s counts as False."""

_REASONS: Final = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


@contextlib.asynccontextmanager
async def serve(
    port: int, *, sdk_metrics_address: str | None, healthy: HealthCheck, host: str = "0.0.0.0"
) -> AsyncIterator[int]:
    """Serve ``/metrics`` and ``/healthz`` on ``port`` (0 picks one) for the duration; yields the port.

    It listens on every interface by default because in a container the scraper is on another host.
    """

    async def respond(method: str, path: str) -> tuple[int, str, bytes]:
        if method not in ("GET", "HEAD"):
            return 405, "text/plain", b"method not allowed\n"
        if path == "/metrics":
            return 200, "text/plain; version=0.0.4; charset=utf-8", await _metrics(sdk_metrics_address)
        if path == "/healthz":
            ok = await _safely(healthy)
            body = json.dumps({"status": "ok" if ok else "unhealthy", "task_queue": TASK_QUEUE}).encode()
            return (200 if ok else 503), "application/json", body
        return 404, "text/plain", b"not found\n"

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                request_line = (await reader.readline()).decode("latin-1").split()
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
            method = request_line[0] if request_line else "GET"
            path = (request_line[1] if len(request_line) > 1 else "/").split("?", 1)[0]
            status, content_type, body = await respond(method, path)
            head = (
                f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + (b"" if method == "HEAD" else body))
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass  # the client went away or never spoke: nothing to answer
        except Exception:
            log.exception("observability endpoint failed")
        finally:
            writer.close()

    server = await asyncio.start_server(handle, host, port)
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
    own = generate_latest(REGISTRY) + generate_latest(_PROCESS_REGISTRY)
    if sdk_metrics_address is None:
        return own
    try:
        async with httpx.AsyncClient(timeout=2) as client:
            sdk = (await client.get(f"http://{sdk_metrics_address}/metrics")).content
    except httpx.HTTPError:
        sdk = b"# Temporal SDK metrics unavailable\n"
    return own + sdk
