"""Ingress and people: ``event send``, ``event rule set|list``, ``tasks``, ``task complete``."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from engine.services.when import ago
from runstudio.commands.runs import with_services
from runstudio.lazy import lazy_attribute
from runstudio.options import AlwaysJsonFlag, JsonFlag, read_json_option, read_object_option
from runstudio.output import echo, print_json, print_table

if TYPE_CHECKING:
    from engine.services.audit import Actor
    from engine.services.context import ServiceContext
else:
    Actor = lazy_attribute("engine.services.audit", "Actor")  # read when a command runs, not when it is listed


def register(app: typer.Typer) -> None:
    """Add the ``event`` group (``send``, ``rule set``, ``rule list``), ``tasks`` and ``task complete`` to ``app``."""
    event_app = typer.Typer(
        help="Send events to runs and configure how their correlation keys are derived.", no_args_is_help=True
    )
    event_app.command("send")(send_command)
    rule_app = typer.Typer(
        help="Correlation rules: a JSONata expression per event name that derives the key from the event.",
        no_args_is_help=True,
    )
    rule_app.command("set")(rule_set_command)
    rule_app.command("list")(rule_list_command)
    event_app.add_typer(rule_app, name="rule")
    app.add_typer(event_app, name="event")
    app.command("tasks")(tasks_command)
    task_app = typer.Typer(help="Act on one human task (see `runstudio tasks`).", no_args_is_help=True)
    task_app.command("complete")(task_complete_command)
    app.add_typer(task_app, name="task")


def send_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The event name, e.g. ticket.approved.")],
    payload: Annotated[
        str | None, typer.Option("--payload", help="The event payload: a JSON object, or @FILE to read it.")
    ] = None,
    event_id: Annotated[
        str | None,
        typer.Option(
            "--event-id",
            help="Idempotency id (default: a new UUID). Sending an id again routes nothing and prints the "
            "first outcome.",
        ),
    ] = None,
    correlation: Annotated[
        str | None,
        typer.Option(
            "--correlation",
            help="The correlation key. Without it, the event name's rule derives it (`runstudio event rule set`).",
        ),
    ] = None,
    as_json: AlwaysJsonFlag = False,
) -> None:
    """Send an event: start the runs it triggers and signal every run waiting for its name and key.

    Prints {"event_id", "correlation_key", "started_run_ids", "signaled_run_ids", "error", …} as JSON.
    Exits 1 when part of the routing failed; the error says which part.
    """
    from engine.services.ingress import submit_event

    del as_json  # the output is JSON either way
    data = read_object_option(payload, "--payload")

    async def work(services: ServiceContext) -> Any:
        # Queued: the event and its deliveries are recorded and the worker signals the runs, so a send
        # to thousands of waiting runs returns at once.
        return await submit_event(services, name, data, event_id=event_id, correlation_key=correlation, queue=True)

    outcome = with_services(ctx, work)
    print_json(
        {
            "event_id": outcome.event_id,
            "correlation_key": outcome.correlation_key,
            "started_run_ids": outcome.started_run_ids,
            "signaled_run_ids": outcome.signaled_run_ids,
            "error": outcome.error,
            "outcome": outcome.outcome,
            "duplicate": outcome.duplicate,
            "matched_run_ids": outcome.matched_run_ids,
        }
    )
    if outcome.duplicate:
        echo(f"note: event {outcome.event_id} was already received; this is its first outcome.", err=True)
    if outcome.outcome == "queued":
        echo(f"note: {len(outcome.matched_run_ids)} matched run(s) queued for delivery by the worker.", err=True)
    if outcome.outcome == "unresolved_correlation":
        echo(
            f"note: no correlation key, so no waiting run was signaled. Pass --correlation KEY, or set a rule "
            f"with `runstudio event rule set {name} EXPR`.",
            err=True,
        )
    if outcome.outcome == "error":
        echo(f"error: the event was recorded but routing failed in part: {outcome.error}", err=True)
        raise typer.Exit(1)


def rule_set_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The event name the rule applies to.")],
    expression: Annotated[
        str,
        typer.Argument(
            help="JSONata over {payload, event: {name, id}}, e.g. 'payload.ticket.id'. Its value becomes the key."
        ),
    ],
    as_json: AlwaysJsonFlag = False,
) -> None:
    """Create or replace the correlation rule of an event name; prints {"event_name", "expression"}."""
    del as_json  # the output is JSON either way
    from engine.services.ingress import CorrelationRuleInvalid, set_correlation_rule

    async def work(services: ServiceContext) -> None:
        await set_correlation_rule(services, name, expression)

    try:
        with_services(ctx, work)
    except CorrelationRuleInvalid as exc:
        echo(f"error: the rule for {name!r} was not saved ({len(exc.problems)} problem(s)):", err=True)
        for problem in exc.problems:
            echo(f"  {problem}", err=True)
        raise typer.Exit(1) from exc
    print_json({"event_name": name, "expression": expression})


def rule_list_command(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List the correlation rules."""
    from engine.services.ingress import list_correlation_rules

    async def work(services: ServiceContext) -> Any:
        return await list_correlation_rules(services)

    rules = with_services(ctx, work)
    if as_json:
        print_json([{"event_name": r.event_name, "expression": r.expression} for r in rules])
        return
    if not rules:
        echo("No correlation rules; `runstudio event rule set NAME EXPR` adds one.")
        return
    print_table(["EVENT", "EXPRESSION"], [[_plain(r.event_name), _plain(r.expression)] for r in rules])


def tasks_command(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List open human tasks, newest first."""
    from engine.services.tasks import list_open_tasks

    async def work(services: ServiceContext) -> Any:
        return await list_open_tasks(services)

    items = with_services(ctx, work)
    if as_json:
        print_json(
            [
                {
                    "task_id": t.task_id,
                    "run_id": t.run_id,
                    "task_type": t.task_type,
                    "title": t.title,
                    "status": t.status,
                    "workflow_id": t.workflow_id,
                    "created_at": t.created_at,
                    "timeout_at": t.timeout_at,
                    "form_schema": t.form_schema,
                    "context_data": t.context_data,
                }
                for t in items
            ]
        )
        return
    if not items:
        echo("No open tasks.")
        return
    now = datetime.now(UTC)
    print_table(
        ["TASK", "RUN", "TYPE", "TITLE", "CREATED"],
        [
            [
                t.task_id,
                t.run_id,
                _plain(t.task_type),
                _plain(t.title),
                ago(t.created_at, now),
            ]
            for t in items
        ],
    )


def task_complete_command(
    ctx: typer.Context,
    task_id: Annotated[str, typer.Argument(help="The task's id (from `runstudio tasks`).")],
    response: Annotated[
        str,
        typer.Option("--response", help="The response as JSON (it must satisfy the task's form), or @FILE."),
    ],
    as_json: AlwaysJsonFlag = False,
) -> None:
    """Complete an open task; the response is checked against the task's form schema first.

    The first completion is final: a second one is refused, naming who completed the task and when.
    If Temporal cannot be reached the completion is still recorded, and delivery to the run is retried.
    """
    from engine.services.tasks import TaskResponseInvalid, complete_task

    del as_json  # the output is JSON either way
    value = read_json_option(response, "--response")

    async def work(services: ServiceContext) -> Any:
        return await complete_task(services, task_id, value, actor=Actor.current())

    try:
        task = with_services(ctx, work)
    except TaskResponseInvalid as exc:
        echo(f"error: the response does not match the form of task {task_id}; nothing changed:", err=True)
        for problem in exc.problems:
            echo(f"  {problem}", err=True)
        echo("Fix the response and run the command again.", err=True)
        raise typer.Exit(1) from exc
    print_json(
        {
            "task_id": task.task_id,
            "run_id": task.run_id,
            "status": task.status,
            "completed_by": task.completed_by,
            "completed_at": task.completed_at,
            "delivery": task.delivery,
            "delivery_problem": task.delivery_problem,
        }
    )
    if task.delivery == "pending":
        # The decision is committed and final, so this is not a failure: say what happens next.
        echo(
            f"note: the completion is recorded, but delivery to run {task.run_id} is pending: "
            f"{task.delivery_problem}. The worker's reconciler retries it until it lands; "
            "`runstudio doctor` checks Temporal.",
            err=True,
        )


def _plain(text: str) -> str:
    """Untrusted text for a terminal table: control characters (escape sequences, newlines) made visible."""
    return "".join(
        ch if unicodedata.category(ch) != "Cc" else ch.encode("unicode_escape").decode("ascii") for ch in text
    )
