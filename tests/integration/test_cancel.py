"""Cancel and bulk cancel against real Postgres and Temporal: Temporal first, projections after, nothing on refusal."""

import asyncio
import subprocess
import sys
import uuid
from typing import Any

import pytest
import typer
from temporalio.client import WorkflowExecutionStatus
from typer.testing import CliRunner

from engine.services.audit import Actor
from engine.services.cancel import cancel_run, cancel_runs, select_cancelable
from engine.services.context import ServiceContext
from engine.services.launch import launch_run
from engine.services.publish import publish_definition
from engine.services.runs import RunNotFound, get_run_detail
from engine.stack import Endpoints
from engine.store import definitions, runs
from engine.temporal import workflow_id_for_run
from runstudio.commands import cancel as cancel_commands
from runstudio.context import GlobalOptions
from tests.conftest import cli_env
from tests.helpers import publish_examples, wait_for_run, wait_until

ACTOR = Actor(user="oncall", source="ssh:10.0.0.7")
WAITING = frozenset({"WAITING"})
LONG = {"waitMs": 600_000}

CLI = "from runstudio.cli import main; main()"


async def start_waiting(services: ServiceContext, workflow_id: str = "timer", payload: Any = None) -> str:
    """Start a run that sleeps for ten minutes and return its id once it is WAITING."""
    run_id = await launch_run(services, workflow_id=workflow_id, payload=LONG if payload is None else payload)
    await wait_for_run(services, run_id, WAITING)
    return run_id


async def temporal_status(services: ServiceContext, run_id: str) -> WorkflowExecutionStatus | None:
    client = await services.temporal()
    return (await client.get_workflow_handle(workflow_id_for_run(run_id)).describe()).status


READ_MODEL = {
    "run": "SELECT * FROM workflow_runs WHERE tenant = $1 AND run_id = $2",
    "steps": "SELECT * FROM workflow_run_steps WHERE tenant = $1 AND run_id = $2 ORDER BY seq, attempt",
    "waits": "SELECT * FROM workflow_run_waits WHERE tenant = $1 AND run_id = $2 ORDER BY seq",
    "audit": "SELECT * FROM workflow_run_audit WHERE tenant = $1 AND run_id = $2 ORDER BY id",
}


async def read_model(services: ServiceContext, run_id: str) -> dict[str, list[dict[str, Any]]]:
    """Every row a cancel could touch, raw, for before/after comparisons."""
    return {
        name: [dict(r) for r in await services.pool.fetch(sql, services.tenant, run_id)]
        for name, sql in READ_MODEL.items()
    }


async def test_cancel_of_a_sleeping_run_projects_canceled_run_step_and_wait(services: ServiceContext) -> None:
    await publish_examples(services, "timer")
    run_id = await start_waiting(services)

    outcome = await cancel_run(services, run_id, actor=ACTOR)

    assert outcome.model_dump() == {
        "run_id": run_id,
        "outcome": "canceled",
        "reason": None,
        "status_before": "WAITING",
    }
    detail = await wait_for_run(services, run_id)
    assert detail.status == "CANCELED"
    assert detail.completed_at is not None
    assert detail.error is not None and detail.error["category"] == "Canceled"
    assert detail.error["stepPath"] == "root.steps[0]"
    assert [(s.path, s.step_id, s.status) for s in detail.steps] == [("root.steps[0]", "nap", "CANCELED")]
    assert detail.steps[0].completed_at is not None
    assert [(w.wait_type, w.status) for w in detail.waits] == [("time", "CANCELED")]
    assert detail.waits[0].resolved_at is not None
    assert "woke" not in detail.vars
    assert [(a.action, a.actor, a.source) for a in detail.audit] == [("cancel", "oncall", "ssh:10.0.0.7")]
    assert detail.audit[0].details["statusBefore"] == "WAITING"
    assert await temporal_status(services, run_id) == WorkflowExecutionStatus.CANCELED


async def test_cancel_while_temporal_is_unreachable_changes_nothing_and_says_why(services: ServiceContext) -> None:
    await publish_examples(services, "timer")
    run_id = await start_waiting(services)
    before = await read_model(services, run_id)
    offline = ServiceContext(
        pool=services.pool,
        endpoints=Endpoints(services.endpoints.database_url, "127.0.0.1:1", "default"),
        tenant=services.tenant,
        _client=None,
    )

    outcome = await cancel_run(offline, run_id, actor=ACTOR)

    assert outcome.outcome == "refused"
    assert outcome.status_before == "WAITING"
    assert outcome.reason is not None and "127.0.0.1:1" in outcome.reason
    assert await read_model(services, run_id) == before
    assert await temporal_status(services, run_id) == WorkflowExecutionStatus.RUNNING
    # The same run cancels once Temporal answers again.
    assert (await cancel_run(services, run_id, actor=ACTOR)).outcome == "canceled"
    assert (await wait_for_run(services, run_id)).status == "CANCELED"


async def test_a_run_temporal_has_no_execution_for_is_refused_and_left_alone(services: ServiceContext) -> None:
    await publish_examples(services, "timer")
    version = await definitions.get_version(services.pool, tenant=services.tenant, workflow_id="timer", version=None)
    assert version is not None
    # A RUNNING row whose start never reached Temporal (the case the reconciler exists for).
    run_id = str(uuid.uuid4())
    await runs.insert_run(
        services.pool,
        tenant=services.tenant,
        run_id=run_id,
        version=version,
        payload={},
        trigger="manual",
        keyring=services.keyring,
    )
    before = await read_model(services, run_id)

    outcome = await cancel_run(services, run_id, actor=ACTOR)

    assert outcome.outcome == "refused"
    assert outcome.status_before == "RUNNING"
    assert outcome.reason is not None and workflow_id_for_run(run_id) in outcome.reason
    assert "no open execution" in outcome.reason
    assert await read_model(services, run_id) == before


async def test_terminal_runs_are_not_cancelable_and_unknown_runs_are_not_found(services: ServiceContext) -> None:
    await publish_examples(services, "timer")
    run_id = await launch_run(services, workflow_id="timer", payload={"waitMs": 0})
    assert (await wait_for_run(services, run_id)).status == "SUCCEEDED"
    before = await read_model(services, run_id)

    outcome = await cancel_run(services, run_id, actor=ACTOR)

    assert outcome.outcome == "not_cancelable"
    assert outcome.status_before == "SUCCEEDED"
    assert outcome.reason is not None and "SUCCEEDED" in outcome.reason
    assert await read_model(services, run_id) == before
    with pytest.raises(RunNotFound):
        await cancel_run(services, str(uuid.uuid4()), actor=ACTOR)
    with pytest.raises(RunNotFound):
        await cancel_run(services, "not-a-run-id", actor=ACTOR)
    # Another tenant cannot see, let alone cancel, this tenant's run.
    with pytest.raises(RunNotFound):
        await cancel_run(services.for_tenant(f"other-{uuid.uuid4().hex[:8]}"), run_id, actor=ACTOR)


async def test_canceling_the_parent_cancels_the_child(services: ServiceContext) -> None:
    await publish_examples(services, "child", "parent")
    parent_id = await launch_run(services, workflow_id="parent", payload={"n": 1, "sleepMs": 600_000})

    async def waiting_child() -> str | None:
        detail = await get_run_detail(services, parent_id)
        if not detail.child_run_ids:
            return None
        child = await get_run_detail(services, detail.child_run_ids[0])
        return child.run_id if child.status == "WAITING" else None

    child_id: str = await wait_until(waiting_child, what="the child run to be WAITING")

    outcome = await cancel_run(services, parent_id, actor=ACTOR)

    assert outcome.outcome == "canceled"
    child = await wait_for_run(services, child_id)
    parent = await wait_for_run(services, parent_id)
    assert child.status == "CANCELED"
    assert child.completed_at is not None
    assert [(s.step_id, s.status) for s in child.steps] == [("nap", "CANCELED")]
    assert [w.status for w in child.waits] == ["CANCELED"]
    assert parent.status == "CANCELED", parent.error
    assert parent.completed_at is not None
    assert [(s.step_id, s.status) for s in parent.steps] == [("call-child", "CANCELED")]
    assert "childResult" not in parent.vars
    assert await temporal_status(services, child_id) == WorkflowExecutionStatus.CANCELED
    assert await temporal_status(services, parent_id) == WorkflowExecutionStatus.CANCELED
    # Only the parent was asked for; the child's cancel came through Temporal, not from an operator.
    assert [a.action for a in parent.audit] == ["cancel"]
    assert child.audit == []


async def test_a_try_catch_around_the_child_does_not_swallow_the_parents_cancel(services: ServiceContext) -> None:
    await publish_examples(services, "child")
    await publish_definition(
        services,
        {
            "id": "guarded-parent",
            "version": 1,
            "name": "Parent that catches child failures",
            "steps": [
                {
                    "id": "guard",
                    "type": "control.tryCatch",
                    "try": [
                        {
                            "id": "call-child",
                            "type": "control.callWorkflow",
                            "workflowId": "child",
                            "workflowVersion": 1,
                            "inputMapping": {"n": 1, "sleepMs": 600_000},
                        }
                    ],
                    "catch": [{"id": "caught", "type": "state.assign", "assign": {"vars.caught": True}}],
                    "captureErrorAs": "err",
                },
                {"id": "after", "type": "state.assign", "assign": {"vars.after": True}},
            ],
        },
    )
    parent_id = await launch_run(services, workflow_id="guarded-parent", payload={})

    async def waiting_child() -> list[str] | None:
        ids = (await get_run_detail(services, parent_id)).child_run_ids
        return ids if ids and (await get_run_detail(services, ids[0])).status == "WAITING" else None

    [child_id] = await wait_until(waiting_child, what="the child run to be WAITING")

    assert (await cancel_run(services, parent_id, actor=ACTOR)).outcome == "canceled"

    parent = await wait_for_run(services, parent_id)
    assert parent.status == "CANCELED", parent.error
    assert parent.vars == {}
    assert [(s.step_id, s.status) for s in parent.steps] == [("guard", "CANCELED"), ("call-child", "CANCELED")]
    assert (await wait_for_run(services, child_id)).status == "CANCELED"


async def test_bulk_cancel_over_a_filter_reports_every_run(services: ServiceContext) -> None:
    await publish_examples(services, "timer", "child")
    waiting = [await start_waiting(services) for _ in range(3)]
    finished = [await launch_run(services, workflow_id="timer", payload={"waitMs": 0}) for _ in range(2)]
    for run_id in finished:
        assert (await wait_for_run(services, run_id)).status == "SUCCEEDED"
    other = await start_waiting(services, "child", {"n": 1, "sleepMs": 600_000})

    selected = await select_cancelable(services, status=None, workflow_id="timer")
    assert sorted(selected) == sorted(waiting)
    assert sorted(await select_cancelable(services, status=None, workflow_id=None)) == sorted([*waiting, other])
    assert sorted(await select_cancelable(services, status="SUCCEEDED", workflow_id="timer")) == sorted(finished)
    with pytest.raises(ValueError, match="unknown status"):
        await select_cancelable(services, status="STUCK", workflow_id=None)

    progress: list[tuple[int, int]] = []
    # A terminal-status filter adds runs that are reported, not canceled; a duplicate id is canceled once.
    asked = [*selected, *finished, selected[0].upper()]
    outcomes = await cancel_runs(services, asked, actor=ACTOR, on_progress=lambda d, t: progress.append((d, t)))

    assert [o.run_id for o in outcomes] == [*selected, *finished]
    assert [o.outcome for o in outcomes] == ["canceled"] * 3 + ["not_cancelable"] * 2
    assert [o.status_before for o in outcomes] == ["WAITING"] * 3 + ["SUCCEEDED"] * 2
    assert progress == [(n, 5) for n in range(1, 6)]
    for run_id in waiting:
        detail = await wait_for_run(services, run_id)
        assert detail.status == "CANCELED"
        assert [w.status for w in detail.waits] == ["CANCELED"]
        assert [a.action for a in detail.audit] == ["cancel"]
    for run_id in finished:
        detail = await get_run_detail(services, run_id)
        assert detail.status == "SUCCEEDED" and detail.audit == []
    assert (await get_run_detail(services, other)).status == "WAITING"
    assert await select_cancelable(services, status=None, workflow_id="timer") == []
    await cancel_run(services, other, actor=ACTOR)


async def test_bulk_cancel_with_temporal_unreachable_refuses_each_run_and_reports_terminal_ones(
    services: ServiceContext,
) -> None:
    await publish_examples(services, "timer")
    waiting = [await start_waiting(services) for _ in range(2)]
    done = await launch_run(services, workflow_id="timer", payload={"waitMs": 0})
    await wait_for_run(services, done)
    offline = ServiceContext(
        pool=services.pool,
        endpoints=Endpoints(services.endpoints.database_url, "127.0.0.1:1", "default"),
        tenant=services.tenant,
    )
    unknown = str(uuid.uuid4())

    outcomes = await cancel_runs(offline, [*waiting, done, unknown], actor=ACTOR)

    assert [(o.run_id, o.outcome) for o in outcomes] == [
        (waiting[0], "refused"),
        (waiting[1], "refused"),
        (done, "not_cancelable"),
        (unknown, "not_cancelable"),
    ]
    assert all("127.0.0.1:1" in (o.reason or "") for o in outcomes[:2])
    assert outcomes[3].status_before is None and "no run" in (outcomes[3].reason or "")
    for run_id in waiting:
        detail = await get_run_detail(services, run_id)
        assert detail.status == "WAITING" and detail.audit == []
    assert [o.outcome for o in await cancel_runs(services, waiting, actor=ACTOR)] == ["canceled", "canceled"]


# -- the command line ------------------------------------------------------------------------------


async def runstudio(
    services: ServiceContext, *args: str, temporal: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``runstudio --tenant <test tenant> ARGS`` in a subprocess, stdin not a terminal.

    It runs in a thread: the session's worker shares this event loop and must keep unwinding workflows.
    """
    env = cli_env(
        RUNSTUDIO_DATABASE_URL=services.endpoints.database_url,
        TEMPORAL_ADDRESS=temporal or services.endpoints.temporal_address,
        TEMPORAL_NAMESPACE="default",
    )
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", CLI, "--tenant", services.tenant, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


async def test_cli_bulk_cancel_without_yes_and_without_a_terminal_refuses_and_changes_nothing(
    services: ServiceContext,
) -> None:
    await publish_examples(services, "timer")
    waiting = [await start_waiting(services) for _ in range(2)]
    before = [await read_model(services, r) for r in waiting]

    result = await runstudio(services, "cancel", "--status", "WAITING")

    assert result.returncode == 1
    assert "--yes" in result.stderr and "2 run(s)" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert [await read_model(services, r) for r in waiting] == before
    # Several explicit ids are confirmed too.
    listed = await runstudio(services, "cancel", *waiting)
    assert listed.returncode == 1 and "--yes" in listed.stderr
    assert [await read_model(services, r) for r in waiting] == before
    await cancel_runs(services, waiting, actor=ACTOR)


async def test_cli_bulk_cancel_with_yes_prints_each_run_and_a_total(services: ServiceContext) -> None:
    await publish_examples(services, "timer")
    waiting = [await start_waiting(services) for _ in range(2)]
    finished = await launch_run(services, workflow_id="timer", payload={"waitMs": 0})
    await wait_for_run(services, finished)

    result = await runstudio(services, "cancel", "--status", "waiting", "--workflow", "timer", "--yes")

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert sorted(lines[:-1]) == sorted(f"{r}  canceled" for r in waiting)
    assert lines[-1] == "total 2: 2 canceled, 0 refused, 0 not cancelable"
    for run_id in waiting:
        detail = await wait_for_run(services, run_id)
        assert detail.status == "CANCELED"
        assert [a.action for a in detail.audit] == ["cancel"]
    assert (await get_run_detail(services, finished)).status == "SUCCEEDED"

    # A terminal-status filter reports, changes nothing, and is not a failure.
    terminal = await runstudio(services, "cancel", "--status", "SUCCEEDED", "--yes")
    assert terminal.returncode == 0, terminal.stderr
    assert terminal.stdout.splitlines() == [
        f"{finished}  not cancelable: the run is already SUCCEEDED; only RUNNING or WAITING runs can be canceled",
        "total 1: 0 canceled, 0 refused, 1 not cancelable",
    ]


async def test_cli_single_run_needs_no_prompt_and_refusal_exits_nonzero(services: ServiceContext) -> None:
    await publish_examples(services, "timer")
    run_id = await start_waiting(services)
    before = await read_model(services, run_id)

    refused = await runstudio(services, "cancel", run_id, temporal="127.0.0.1:1")

    assert refused.returncode == 1
    assert refused.stdout.startswith(f"{run_id}  refused: ") and "127.0.0.1:1" in refused.stdout
    assert refused.stdout.splitlines()[-1] == "total 1: 0 canceled, 1 refused, 0 not cancelable"
    assert await read_model(services, run_id) == before

    canceled = await runstudio(services, "cancel", run_id)
    assert canceled.returncode == 0, canceled.stderr
    assert canceled.stdout.splitlines()[0] == f"{run_id}  canceled"
    assert (await wait_for_run(services, run_id)).status == "CANCELED"

    unknown = await runstudio(services, "cancel", run_id, str(uuid.uuid4()), "--yes")
    assert unknown.returncode == 1 and "no run" in unknown.stderr and unknown.stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give the run ids to cancel"),
        (("--workflow", "timer"), "--workflow needs --status"),
        (("--status", "STUCK"), "unknown status"),
        ((str(uuid.UUID(int=1)), "--status", "WAITING"), "not both"),
    ],
)
async def test_cli_usage_errors_say_what_to_do(services: ServiceContext, args: tuple[str, ...], message: str) -> None:
    result = await runstudio(services, "cancel", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def cancel_app() -> typer.Typer:
    """A root app with only the global options and the cancel group, as the real CLI mounts it."""
    app = typer.Typer()

    @app.callback()
    def root(ctx: typer.Context, tenant: str = typer.Option("default", "--tenant")) -> None:
        ctx.obj = GlobalOptions(tenant=tenant)

    cancel_commands.register(app)
    return app


async def test_cli_at_a_terminal_asks_and_a_no_cancels_nothing(
    services: ServiceContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    await publish_examples(services, "timer")
    waiting = [await start_waiting(services) for _ in range(2)]
    before = [await read_model(services, r) for r in waiting]
    monkeypatch.setattr(cancel_commands, "_interactive", lambda: True)
    monkeypatch.setenv("RUNSTUDIO_DATABASE_URL", services.endpoints.database_url)
    monkeypatch.setenv("TEMPORAL_ADDRESS", services.endpoints.temporal_address)
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "default")
    app = cancel_app()
    args = ["--tenant", services.tenant, "cancel", "--status", "WAITING"]

    # In a thread: the command runs its own event loop, and the worker must keep running on this one.
    declined = await asyncio.to_thread(CliRunner().invoke, app, args, input="n\n")

    assert declined.exit_code == 1, declined.output
    assert "Cancel 2 run(s) with status WAITING? [y/N]" in declined.output
    assert "Nothing canceled." in declined.output
    assert [await read_model(services, r) for r in waiting] == before

    accepted = await asyncio.to_thread(CliRunner().invoke, app, args, input="y\n")

    assert accepted.exit_code == 0, accepted.output
    assert "total 2: 2 canceled, 0 refused, 0 not cancelable" in accepted.output
    for run_id in waiting:
        assert (await wait_for_run(services, run_id)).status == "CANCELED"


async def test_cli_long_batches_report_progress_on_stderr(services: ServiceContext) -> None:
    await publish_examples(services, "timer")
    finished = await asyncio.gather(
        *(launch_run(services, workflow_id="timer", payload={"waitMs": 0}) for _ in range(11))
    )
    for run_id in finished:
        await wait_for_run(services, run_id)

    result = await runstudio(services, "cancel", "--status", "SUCCEEDED", "--yes")

    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == ["canceling… 10/11 done", "canceling… 11/11 done"]
    lines = result.stdout.splitlines()
    assert sorted(line.split()[0] for line in lines[:-1]) == sorted(finished)
    assert lines[-1] == "total 11: 0 canceled, 0 refused, 11 not cancelable"


async def test_a_stuck_run_canceled_before_any_worker_loaded_it_ends_canceled(
    private_temporal: Any, db_pool: Any, migrated_database_url: str
) -> None:
    from engine.actions.registry import default_registry
    from engine.temporal.activities import Activities
    from worker.main import build_worker

    client = private_temporal.client
    ctx = ServiceContext(
        db_pool,
        Endpoints(migrated_database_url, client.service_client.config.target_host, "default"),
        "stuck",
        _client=client,
    )
    await publish_examples(ctx, "branching")
    run_id = await launch_run(ctx, workflow_id="branching", payload={})
    outcome = await cancel_run(ctx, run_id, actor=ACTOR)
    assert outcome.outcome == "canceled"
    assert (await get_run_detail(ctx, run_id)).status == "RUNNING"  # nothing has run the workflow yet
    async with build_worker(client, Activities(pool=db_pool, registry=default_registry())):
        detail = await wait_for_run(ctx, run_id)
    assert detail.status == "CANCELED"
    assert detail.error is not None and detail.error["category"] == "Canceled"
    assert detail.steps == []
    assert detail.completed_at is not None
