"""``engine.services.delivery.deliver`` against a stand-in Temporal: bounded senders, once per run, retries.

Counted, never timed: how many signals were in flight at once, how many tasks the delivery created, how
many times each run was signaled and how often the payload was encoded.
"""

import asyncio
from typing import Any

import pytest
from temporalio.service import RPCError, RPCStatusCode

from engine.services import delivery
from engine.services.delivery import deliver
from engine.temporal import workflow_id_for_run
from engine.temporal.contracts import EventSignal

SIGNAL = EventSignal(event_id="e-1", event_name="ticket.approved", correlation_key="T-1", payload={"amount": 500})


class _Converter:
    def __init__(self) -> None:
        self.encodes = 0

    async def encode(self, values: list[Any]) -> list[Any]:
        self.encodes += 1
        return []


class _Service:
    """Accepts every signal after a few event-loop turns; ``fail`` maps a workflow id to the errors it raises first."""

    def __init__(self, fail: dict[str, list[RPCError]] | None = None) -> None:
        self.fail = fail or {}
        self.in_flight = 0
        self.peak = 0
        self.calls: dict[str, int] = {}
        self.request_ids: dict[str, set[str]] = {}

    async def signal_workflow_execution(self, request: Any, *, timeout: Any) -> None:
        workflow_id = request.workflow_execution.workflow_id
        self.calls[workflow_id] = self.calls.get(workflow_id, 0) + 1
        self.request_ids.setdefault(workflow_id, set()).add(request.request_id)
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            for _ in range(3):
                await asyncio.sleep(0)
            errors = self.fail.get(workflow_id)
            if errors:
                raise errors.pop(0)
        finally:
            self.in_flight -= 1


class _Client:
    def __init__(self, service: _Service) -> None:
        self.data_converter = _Converter()
        self.namespace = "default"
        self.identity = "test"
        self.workflow_service = service


def _runs(n: int) -> list[str]:
    return [f"00000000-0000-0000-0000-{i:012d}" for i in range(n)]


async def test_many_runs_are_signaled_once_each_by_a_bounded_number_of_senders() -> None:
    service = _Service()
    client = _Client(service)
    runs = _runs(500)
    created = 0
    loop = asyncio.get_running_loop()
    factory = loop.get_task_factory()

    def counting(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        # The loop is shared with the rest of the session: count only the tasks delivery itself creates.
        nonlocal created
        code = getattr(coro, "cr_code", None)
        created += code is not None and code.co_filename == delivery.__file__
        return asyncio.Task(coro, loop=loop, **kwargs)

    loop.set_task_factory(counting)
    try:
        done = await deliver(client, runs, SIGNAL, concurrency=16)  # type: ignore[arg-type]
    finally:
        loop.set_task_factory(factory)
    assert done.signaled == runs and done.ended == [] and done.errors == [] and not done.unavailable
    assert service.calls == {workflow_id_for_run(r): 1 for r in runs}
    assert service.peak == 16
    assert 1 <= created <= 16  # one task per sender, not one per run
    assert client.data_converter.encodes == 1


async def test_transient_errors_are_retried_and_ended_runs_delivered_to_nobody(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delivery, "_FIRST_BACKOFF_SECONDS", 0.0)
    runs = _runs(6)
    busy = RPCError("busy", RPCStatusCode.UNAVAILABLE, b"")
    gave_up = RPCError("operation was canceled", RPCStatusCode.CANCELLED, b"")  # the server's own deadline
    service = _Service(
        {
            workflow_id_for_run(runs[1]): [busy, gave_up],
            workflow_id_for_run(runs[2]): [
                RPCError("workflow execution already completed", RPCStatusCode.NOT_FOUND, b"")
            ],
            workflow_id_for_run(runs[3]): [RPCError("sql: no rows", RPCStatusCode.NOT_FOUND, b"")],
            workflow_id_for_run(runs[4]): [busy] * delivery.SIGNAL_ATTEMPTS,
        }
    )
    done = await deliver(_Client(service), runs, SIGNAL, concurrency=4)  # type: ignore[arg-type]
    assert done.signaled == [runs[0], runs[1], runs[5]]
    assert done.ended == [runs[2]]
    assert [e.split(":")[0] for e in done.errors] == [
        f"signal to run {runs[3]} failed",
        f"signal to run {runs[4]} failed",
    ]
    assert done.unavailable  # runs[4] never got through: Temporal is not answering
    assert service.calls[workflow_id_for_run(runs[1])] == 3
    # Every try of one run's signal carries the same request id (the server deduplicates a retried signal),
    # and no two runs share one.
    assert len(service.request_ids[workflow_id_for_run(runs[1])]) == 1
    assert len(set().union(*service.request_ids.values())) == len(runs)
    assert service.calls[workflow_id_for_run(runs[4])] == delivery.SIGNAL_ATTEMPTS


async def test_first_sent_is_set_as_the_first_signal_goes_out_and_when_there_was_none() -> None:
    service = _Service()
    first_sent = asyncio.Event()
    seen_at_first_call: list[bool] = []
    real = service.signal_workflow_execution

    async def watching(request: Any, *, timeout: Any) -> None:
        seen_at_first_call.append(first_sent.is_set())
        await real(request, timeout=timeout)

    service.signal_workflow_execution = watching  # type: ignore[method-assign]
    await deliver(_Client(service), _runs(3), SIGNAL, first_sent=first_sent)  # type: ignore[arg-type]
    assert seen_at_first_call[0] is True
    nothing = asyncio.Event()
    await deliver(_Client(_Service()), [], SIGNAL, first_sent=nothing)  # type: ignore[arg-type]
    assert nothing.is_set()  # a caller waiting for the first signal is never left hanging
