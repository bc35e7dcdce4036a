"""Runs the Temporal worker on ``TASK_QUEUE`` until SIGTERM/SIGINT, then stops within its grace period.

See :mod:`worker.shutdown` for how the stop stays bounded when in-flight work will not finish.
"""

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import timedelta

import asyncpg
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from engine.actions.registry import default_registry
from engine.config import DEFAULT_MAX_CACHED_WORKFLOWS, Settings
from engine.keyring import load_keyring
from engine.services.context import ServiceContext
from engine.stack import resolve_endpoints
from engine.store.db import create_pool
from engine.temporal import TASK_QUEUE
from engine.temporal import client as temporal_client
from engine.temporal.activities import Activities
from engine.temporal.workflow import RunWorkflow
from worker import observability
from worker.fanout import run_delivery_loop
from worker.inbox import run_inbox_consumer
from worker.reconciler import run_reconciler
from worker.shutdown import InFlight, ShutdownGuard

log = logging.getLogger("runstudio.worker")

# Modules the workflow sandbox shares with the host instead of re-importing them for every workflow:
# they are deterministic, and re-importing pydantic and jsonata per run would dominate its cost.
PASSTHROUGH_MODULES: Sequence[str] = ("engine", "pydantic", "pydantic_core", "jsonata", "annotated_types")

GRACEFUL_SHUTDOWN = timedelta(seconds=10)
"""How long in-flight activities get to finish after a stop signal before the SDK cancels them."""


def build_sandbox_runner() -> SandboxedWorkflowRunner:
    """The workflow sandbox with our deterministic modules passed through (worker and replayer alike)."""
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
    )


def build_worker(
    client: Client,
    activities: Activities,
    *,
    in_flight: InFlight | None = None,
    max_cached_workflows: int = DEFAULT_MAX_CACHED_WORKFLOWS,
) -> Worker:
    """The worker for the one task queue, with the one workflow and its activities.

    ``in_flight`` tracks running activities so a forced exit can name them; ``max_cached_workflows`` is
    ``Settings.worker_max_cached_workflows`` (``RUNSTUDIO_WORKER_MAX_CACHED_WORKFLOWS``).
    """
    return Worker(
        client,
        task_queue=TASK_QUEUE,
        workflows=[RunWorkflow],
        activities=activities.all(),
        workflow_runner=build_sandbox_runner(),
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        max_cached_workflows=max_cached_workflows,
        interceptors=[in_flight] if in_flight is not None else [],
    )


def health_check(temporal_worker: Worker, pool: asyncpg.Pool, stop: asyncio.Event) -> observability.HealthCheck:
    """What ``/healthz`` reports: healthy while the Temporal worker runs, we are not stopping, and Postgres answers.

    ``Worker.is_running`` turns true only once the SDK has validated the namespace and started polling,
    and false once it shuts down (a fatal worker error also ends ``run_worker``, so the process exits).
    A stopping worker reports 503 at once so an orchestrator stops counting it before it is gone.
    Postgres is part of it because a worker that cannot project makes no progress on any run.
    """

    async def healthy() -> bool:
        if stop.is_set() or not temporal_worker.is_running:
            return False
        return await pool.fetchval("SELECT true") is True

    return healthy


async def run_worker(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    """Connect, poll ``TASK_QUEUE`` and return once ``stop`` is set.

    Without a ``stop`` event the worker owns the process and its stop signals: the first SIGTERM/SIGINT
    stops it gracefully, and the process ends within :data:`GRACEFUL_SHUTDOWN` plus a few seconds in
    every state, a second signal at once (:class:`~worker.shutdown.ShutdownGuard`).
    """
    in_flight = InFlight()
    guard: ShutdownGuard | None = None
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        guard = ShutdownGuard(GRACEFUL_SHUTDOWN.total_seconds(), in_flight, lambda: _set_soon(loop, stop))
        guard.install()
    try:
        await _serve(settings, stop, in_flight)
    finally:
        if guard is not None:
            guard.close()


def _set_soon(loop: asyncio.AbstractEventLoop, event: asyncio.Event) -> None:
    # Called from a signal handler, which may interrupt the loop mid-operation: hand the set to the loop.
    loop.call_soon_threadsafe(event.set)


async def _serve(settings: Settings, stop: asyncio.Event, in_flight: InFlight) -> None:
    endpoints = await resolve_endpoints(settings)
    keyring = load_keyring(settings)
    pool = await create_pool(endpoints.database_url)
    try:
        runtime, sdk_metrics = observability.sdk_runtime(
            metrics=settings.metrics_port is not None, forward_logs=settings.log_format == "json"
        )
        client = await temporal_client.connect(
            endpoints.temporal_address,
            endpoints.temporal_namespace,
            keyring=keyring,
            auth=endpoints.temporal_auth,
            runtime=runtime,
        )
        activities = Activities(
            pool=pool, registry=default_registry(), http_allowed_hosts=settings.http_allowed_hosts, keyring=keyring
        )
        services = ServiceContext(pool=pool, endpoints=endpoints, tenant="default", _client=client, keyring=keyring)
        temporal_worker = build_worker(
            client, activities, in_flight=in_flight, max_cached_workflows=settings.worker_max_cached_workflows
        )
        async with contextlib.AsyncExitStack() as stack:
            if settings.metrics_port is not None:
                port = await stack.enter_async_context(
                    observability.serve(
                        settings.metrics_port,
                        sdk_metrics_address=sdk_metrics,
                        healthy=health_check(temporal_worker, pool, stop),
                    )
                )
                log.info("metrics on :%d/metrics, health on :%d/healthz", port, port)
            await stack.enter_async_context(temporal_worker)
            log.info(
                "worker polling task queue %s on %s (namespace %s)",
                TASK_QUEUE,
                endpoints.temporal_address,
                endpoints.temporal_namespace,
            )
            background = [
                asyncio.create_task(
                    run_inbox_consumer(pool, services.for_tenant, stop, database_url=endpoints.database_url)
                ),
                asyncio.create_task(run_reconciler(pool, client, stop)),
                asyncio.create_task(
                    run_delivery_loop(
                        pool,
                        client,
                        keyring,
                        stop,
                        database_url=endpoints.database_url,
                        temporal_address=endpoints.temporal_address,
                    )
                ),
            ]
            try:
                await stop.wait()
            except asyncio.CancelledError:
                # A fatal Temporal worker error cancels this task (then re-raises from the worker's exit):
                # the consumer and the reconciler must end before the pool closes under them.
                stop.set()
                await asyncio.gather(*background, return_exceptions=True)
                raise
            log.info("worker stopping: finishing in-flight tasks")
            await asyncio.gather(*background)
    finally:
        await pool.close()
    log.info("worker stopped")
