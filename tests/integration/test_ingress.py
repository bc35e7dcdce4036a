"""Event ingress on real Postgres + Temporal: dedupe, fan-out to every waiter, rules, triggers, failures."""

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType

from engine.services.context import ServiceContext
from engine.services.delivery import deliver_pending_batch
from engine.services.ingress import (
    CorrelationRuleInvalid,
    get_correlation_rule,
    get_event,
    set_correlation_rule,
    submit_event,
)
from engine.services.launch import launch_run
from engine.services.publish import publish_definition
from engine.services.runs import get_run_detail
from engine.temporal import workflow_id_for_run
from tests.conftest import services_env
from tests.helpers import publish_examples, wait_for_run, wait_until

APPROVED = "ticket.approved"


async def _history_types(services: ServiceContext, run_id: str) -> list[int]:
    handle = (await services.temporal()).get_workflow_handle(workflow_id_for_run(run_id))
    history = await handle.fetch_history()
    return [event.event_type for event in history.events]


async def signal_count(services: ServiceContext, run_id: str) -> int:
    """How many signals the run's Temporal history holds (a signal is in history once it is accepted)."""
    return (await _history_types(services, run_id)).count(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED)


async def signals_processed(services: ServiceContext, run_id: str) -> bool:
    """True once a workflow task completed after the run's last signal: the workflow has seen every signal."""
    types = await _history_types(services, run_id)
    signaled = [i for i, t in enumerate(types) if t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED]
    done = [i for i, t in enumerate(types) if t == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED]
    return bool(signaled) and bool(done) and done[-1] > signaled[-1]


async def waiting_run(services: ServiceContext, ticket: str, min_amount: float = 100) -> str:
    """Start examples/event_wait.json for ``ticket`` and return once its event wait is projected."""
    run_id = await launch_run(services, workflow_id="event-wait", payload={"ticketId": ticket, "minAmount": min_amount})
    await wait_for_run(services, run_id, frozenset({"WAITING"}))
    return run_id


async def stored_event(services: ServiceContext, event_id: str) -> dict[str, Any]:
    row = await services.pool.fetchrow(
        "SELECT event_name, payload, correlation_key, source, outcome, matched_run_ids::text[] AS matched,"
        " started_run_ids::text[] AS started, signaled_run_ids::text[] AS signaled, error, routed_at"
        " FROM workflow_runtime_events WHERE tenant = $1 AND event_id = $2",
        services.tenant,
        event_id,
    )
    assert row is not None, f"event {event_id} was not recorded"
    return dict(row)


async def test_duplicate_event_id_returns_the_first_outcome_and_routes_nothing_new(services: ServiceContext) -> None:
    await publish_examples(services, "event_wait")
    first_waiter = await waiting_run(services, "T-D")
    first = await submit_event(
        services, APPROVED, {"amount": 500, "by": "ana"}, event_id="evt-dup", correlation_key="T-D"
    )
    assert first.duplicate is False and first.outcome == "routed"
    assert first.signaled_run_ids == [first_waiter] and first.matched_run_ids == [first_waiter]
    done = await wait_for_run(services, first_waiter)
    assert done.vars == {"approval": {"amount": 500, "by": "ana"}, "approvedBy": "ana"}
    assert [(e.event_id, e.relation) for e in done.events] == [("evt-dup", "signaled")]

    # A new run now waits on the same key: the duplicate must not reach it.
    second_waiter = await waiting_run(services, "T-D")
    again = await submit_event(
        services, APPROVED, {"amount": 900, "by": "bo"}, event_id="evt-dup", correlation_key="T-D"
    )
    assert again.duplicate is True
    assert again.model_dump(exclude={"duplicate"}) == first.model_dump(exclude={"duplicate"})
    assert await signal_count(services, second_waiter) == 0
    assert (await get_run_detail(services, second_waiter)).status == "WAITING"
    stored = await stored_event(services, "evt-dup")
    assert stored["payload"] == {"amount": 500, "by": "ana"}
    assert stored["signaled"] == [first_waiter]
    # The second waiter is released by a fresh event, so nothing is left waiting.
    await submit_event(services, APPROVED, {"amount": 500, "by": "cy"}, correlation_key="T-D")
    assert (await wait_for_run(services, second_waiter)).vars["approvedBy"] == "cy"


async def test_concurrent_submits_of_one_event_id_route_it_once(services: ServiceContext) -> None:
    await publish_examples(services, "event_wait")
    run_id = await waiting_run(services, "T-C")
    outcomes = await asyncio.gather(
        *(
            submit_event(services, APPROVED, {"amount": 500, "by": "ana"}, event_id="evt-race", correlation_key="T-C")
            for _ in range(4)
        )
    )
    assert sorted(o.duplicate for o in outcomes) == [False, True, True, True]
    assert all(o.signaled_run_ids == [run_id] for o in outcomes)
    await wait_for_run(services, run_id)
    assert await signal_count(services, run_id) == 1


async def test_every_waiter_on_the_key_is_signaled_and_only_the_matching_filter_resumes(
    services: ServiceContext,
) -> None:
    await publish_examples(services, "event_wait")
    low = await waiting_run(services, "T-F", min_amount=100)
    high = await waiting_run(services, "T-F", min_amount=1000)
    other_key = await waiting_run(services, "T-OTHER", min_amount=0)

    outcome = await submit_event(services, APPROVED, {"amount": 500, "by": "ana"}, correlation_key="T-F")
    assert outcome.outcome == "routed" and outcome.error is None
    assert sorted(outcome.signaled_run_ids) == sorted([low, high])
    assert sorted(outcome.matched_run_ids) == sorted([low, high])

    resumed = await wait_for_run(services, low)
    assert resumed.status == "SUCCEEDED"
    assert resumed.vars["approval"] == {"amount": 500, "by": "ana"}
    assert [(w.status, w.payload) for w in resumed.waits] == [("RESOLVED", {"amount": 500, "by": "ana"})]

    # The high-threshold run got the signal, processed it, and kept waiting: its filter said no.
    await wait_until(lambda: signals_processed(services, high), what="the high run to process its signal")
    still = await get_run_detail(services, high)
    assert still.status == "WAITING"
    assert [(w.status, w.key) for w in still.waits] == [("WAITING", "T-F")]
    assert [e.relation for e in still.events] == ["signaled"]
    assert await signal_count(services, other_key) == 0

    bigger = await submit_event(services, APPROVED, {"amount": 5000, "by": "bo"}, correlation_key="T-F")
    assert bigger.signaled_run_ids == [high]  # the low run no longer waits
    assert (await wait_for_run(services, high)).vars["approvedBy"] == "bo"
    await submit_event(services, APPROVED, {"amount": 1, "by": "cy"}, correlation_key="T-OTHER")
    await wait_for_run(services, other_key)


async def test_an_event_without_key_or_rule_is_recorded_as_unresolved(services: ServiceContext) -> None:
    await publish_examples(services, "event_wait")
    run_id = await waiting_run(services, "T-U")
    outcome = await submit_event(services, APPROVED, {"amount": 500, "ticketId": "T-U"}, event_id="evt-unresolved")
    assert outcome.outcome == "unresolved_correlation"
    assert outcome.correlation_key is None
    assert outcome.signaled_run_ids == [] and outcome.started_run_ids == [] and outcome.error is None
    stored = await stored_event(services, "evt-unresolved")
    assert stored["outcome"] == "unresolved_correlation" and stored["correlation_key"] is None
    assert stored["source"] == "api" and stored["routed_at"] is not None
    assert await get_event(services, "evt-unresolved") == outcome
    assert await signal_count(services, run_id) == 0
    await submit_event(services, APPROVED, {"amount": 500}, correlation_key="T-U")
    await wait_for_run(services, run_id)


async def test_a_rule_derives_the_key_and_bad_rules_are_refused(services: ServiceContext) -> None:
    await publish_examples(services, "event_wait")
    run_id = await waiting_run(services, "T-R")
    await set_correlation_rule(services, APPROVED, "payload.ticket.id")
    assert await get_correlation_rule(services, APPROVED) == "payload.ticket.id"

    outcome = await submit_event(services, APPROVED, {"ticket": {"id": "T-R"}, "amount": 500, "by": "dee"})
    assert outcome.correlation_key == "T-R" and outcome.signaled_run_ids == [run_id]
    assert (await wait_for_run(services, run_id)).vars["approvedBy"] == "dee"
    # An explicit key wins over the rule.
    explicit = await submit_event(services, APPROVED, {"ticket": {"id": "T-R"}}, correlation_key="T-EXPLICIT")
    assert explicit.correlation_key == "T-EXPLICIT"

    # Keys are made like an event.wait makes its key (str of the value); the event itself is in scope.
    await set_correlation_rule(services, "order.paid", "event.name & ':' & $string(payload.n)")
    numbered = await submit_event(services, "order.paid", {"n": 42})
    assert numbered.correlation_key == "order.paid:42"
    await set_correlation_rule(services, "order.shipped", "payload.n")
    assert (await submit_event(services, "order.shipped", {"n": 7})).correlation_key == "7"
    # A rule that gives nothing leaves the event unresolved; one that fails is an error on the event.
    assert (await submit_event(services, "order.shipped", {})).outcome == "unresolved_correlation"
    await set_correlation_rule(services, "order.lost", "$error('no key here')")
    failed = await submit_event(services, "order.lost", {})
    assert failed.outcome == "error" and failed.error is not None and "no key here" in failed.error

    with pytest.raises(CorrelationRuleInvalid) as refused:
        await set_correlation_rule(services, APPROVED, "$random() & $nosuch(payload)")
    assert any("$random" in p for p in refused.value.problems)
    assert any("$nosuch" in p for p in refused.value.problems)
    with pytest.raises(CorrelationRuleInvalid, match="does not compile"):
        await set_correlation_rule(services, APPROVED, "payload.(")
    assert await get_correlation_rule(services, APPROVED) == "payload.ticket.id"


async def test_event_triggered_definitions_start_runs_and_rejections_are_recorded(services: ServiceContext) -> None:
    def triggered(workflow_id: str, schema: dict[str, Any], version: int = 1, trigger: str = "event") -> dict[str, Any]:
        return {
            "id": workflow_id,
            "version": version,
            "name": workflow_id,
            "trigger": {"type": "event", "eventName": "order.created"} if trigger == "event" else {"type": "manual"},
            "payloadSchema": schema,
            "steps": [{"id": "note", "type": "state.assign", "assign": {"vars.order": {"$expr": "payload.orderId"}}}],
        }

    order_schema = {"type": "object", "required": ["orderId"], "properties": {"orderId": {"type": "string"}}}
    await publish_definition(services, triggered("on-order", order_schema))
    await publish_definition(services, triggered("needs-sku", {"type": "object", "required": ["sku"]}))
    # Only a definition's latest version counts: this one is no longer event-triggered.
    await publish_definition(services, triggered("retired", order_schema))
    await publish_definition(services, triggered("retired", order_schema, version=2, trigger="manual"))

    outcome = await submit_event(services, "order.created", {"orderId": "O-1"}, event_id="evt-order")
    assert outcome.outcome == "error"
    assert len(outcome.started_run_ids) == 1
    assert outcome.error is not None
    assert "needs-sku@1" in outcome.error and "sku" in outcome.error
    assert "on-order" not in outcome.error and "retired" not in outcome.error

    run = await wait_for_run(services, outcome.started_run_ids[0])
    assert run.status == "SUCCEEDED" and run.workflow_id == "on-order"
    assert run.trigger == "event"
    assert run.trigger_metadata == {"eventId": "evt-order", "eventName": "order.created", "correlationKey": None}
    assert run.vars == {"order": "O-1"}
    assert [(e.event_id, e.relation) for e in run.events] == [("evt-order", "started")]
    started = await services.pool.fetch(
        "SELECT workflow_id FROM workflow_runs WHERE tenant = $1 ORDER BY workflow_id", services.tenant
    )
    assert [r["workflow_id"] for r in started] == ["on-order"]
    stored = await stored_event(services, "evt-order")
    assert stored["started"] == outcome.started_run_ids and stored["error"] == outcome.error


async def test_one_failing_signal_does_not_stop_the_others(services: ServiceContext) -> None:
    await publish_examples(services, "event_wait")
    real = await waiting_run(services, "T-X")
    ghost = str(uuid.uuid4())  # a WAITING run whose workflow Temporal has never heard of
    await services.pool.execute(
        "INSERT INTO workflow_runs (tenant, run_id, workflow_id, workflow_version, status, trigger)"
        " VALUES ($1, $2, 'event-wait', 1, 'WAITING', 'manual')",
        services.tenant,
        ghost,
    )
    await services.pool.execute(
        "INSERT INTO workflow_run_waits (tenant, run_id, seq, step_path, wait_type, event_name, correlation_key,"
        " status) VALUES ($1, $2, 0, 'root.steps[0]', 'event', $3, 'T-X', 'WAITING')",
        services.tenant,
        ghost,
        APPROVED,
    )
    outcome = await submit_event(
        services, APPROVED, {"amount": 500, "by": "eve"}, event_id="evt-ghost", correlation_key="T-X"
    )
    assert sorted(outcome.matched_run_ids) == sorted([real, ghost])
    assert outcome.signaled_run_ids == [real]
    assert outcome.outcome == "error"
    assert outcome.error is not None and f"signal to run {ghost} failed" in outcome.error
    assert real not in outcome.error
    assert (await wait_for_run(services, real)).vars["approvedBy"] == "eve"
    stored = await stored_event(services, "evt-ghost")
    assert stored["outcome"] == "error" and stored["error"] == outcome.error
    assert stored["signaled"] == [real] and sorted(stored["matched"]) == sorted([real, ghost])


def cli_script(tmp_path: Path) -> Path:
    """A ``runstudio`` with only this module's commands, run through the real error handling."""
    script = tmp_path / "events_cli.py"
    script.write_text(
        textwrap.dedent(
            """
            import os, sys
            import typer
            import runstudio.cli as cli
            from runstudio.commands import events
            from runstudio.context import GlobalOptions

            app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)

            @app.callback()
            def _options(ctx: typer.Context, tenant: str = typer.Option("default", "--tenant")) -> None:
                ctx.obj = GlobalOptions(tenant=tenant)

            events.register(app)
            cli.app = app
            code = cli.run(sys.argv[1:])
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
            """
        )
    )
    return script


def run_cli(script: Path, services: ServiceContext, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the command-line script against the test's services and tenant."""
    env = services_env(services)
    return subprocess.run(
        [sys.executable, str(script), "--tenant", services.tenant, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=os.getcwd(),
    )


async def test_cli_event_send_and_rule_set(services: ServiceContext, tmp_path: Path) -> None:
    await publish_examples(services, "event_wait")
    run_id = await waiting_run(services, "T-CLI")
    script = cli_script(tmp_path)

    bad = await asyncio.to_thread(run_cli, script, services, "event", "rule", "set", APPROVED, "$random()")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert "$random" in bad.stderr and bad.stdout == ""

    rule = await asyncio.to_thread(run_cli, script, services, "event", "rule", "set", APPROVED, "payload.ticket")
    assert rule.returncode == 0, rule.stderr
    payload_file = tmp_path / "event.json"
    payload_file.write_text(json.dumps({"ticket": "T-CLI", "amount": 500, "by": "cli"}))
    sent = await asyncio.to_thread(
        run_cli, script, services, "event", "send", APPROVED, "--payload", f"@{payload_file}", "--event-id", "e-cli"
    )
    assert sent.returncode == 0, sent.stderr
    doc = json.loads(sent.stdout)
    assert {"event_id", "correlation_key", "started_run_ids", "signaled_run_ids", "error"} <= set(doc)
    assert doc["event_id"] == "e-cli" and doc["correlation_key"] == "T-CLI"
    # The CLI queues the event (issue 16): the worker's delivery loop signals the matched runs.
    assert doc["matched_run_ids"] == [run_id] and doc["outcome"] == "queued" and doc["signaled_run_ids"] == []
    assert doc["started_run_ids"] == [] and doc["error"] is None and "queued for delivery" in sent.stderr
    await deliver_pending_batch(services.pool, await services.temporal(), services.keyring)
    assert (await stored_event(services, "e-cli"))["signaled"] == [run_id]
    assert (await wait_for_run(services, run_id)).vars["approvedBy"] == "cli"

    again = await asyncio.to_thread(
        run_cli, script, services, "event", "send", APPROVED, "--payload", "{}", "--event-id", "e-cli"
    )
    assert again.returncode == 0 and json.loads(again.stdout)["duplicate"] is True
    assert "already received" in again.stderr

    unresolved = await asyncio.to_thread(run_cli, script, services, "event", "send", "no.rule", "--payload", "{}")
    assert unresolved.returncode == 0 and json.loads(unresolved.stdout)["correlation_key"] is None
    assert "event rule set no.rule" in unresolved.stderr

    not_json = await asyncio.to_thread(run_cli, script, services, "event", "send", APPROVED, "--payload", "{oops")
    assert not_json.returncode != 0 and "not valid JSON" in not_json.stderr and "Traceback" not in not_json.stderr


async def test_the_first_signal_waits_for_no_waiting_runs_input_to_be_opened(
    services: ServiceContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counted, not timed (issue 16): the recorded payload masks the waiting runs' secrets, which opens each
    run's sealed input; that work runs while the signals are in flight, after the first one left."""
    from engine.store import events

    await publish_examples(services, "event_wait")
    runs = [await waiting_run(services, "T-FIRST", min_amount=0) for _ in range(3)]
    opened: list[int] = []
    opened_when_first_signal: list[int] = []
    real_open = events.open_input

    def counting_open(stored: Any, keyring: Any) -> Any:
        opened.append(1)
        return real_open(stored, keyring)

    service = (await services.temporal()).workflow_service
    real_signal = service.signal_workflow_execution

    async def first_signal_counts(request: Any, **kwargs: Any) -> Any:
        if not opened_when_first_signal:
            opened_when_first_signal.append(len(opened))
        return await real_signal(request, **kwargs)

    monkeypatch.setattr(events, "open_input", counting_open)
    monkeypatch.setattr(service, "signal_workflow_execution", first_signal_counts)
    outcome = await submit_event(services, APPROVED, {"amount": 1, "by": "dee"}, correlation_key="T-FIRST")
    assert sorted(outcome.signaled_run_ids) == sorted(runs) and outcome.error is None
    assert opened_when_first_signal == [0]
    assert len(opened) == len(runs)  # every waiting run's secrets were still masked in the record
    for run_id in runs:
        assert (await wait_for_run(services, run_id)).status == "SUCCEEDED"
