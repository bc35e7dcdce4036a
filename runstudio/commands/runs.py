"""Authoring and running: ``publish``, ``definitions``, ``start``, ``runs``, ``show``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from engine.services.when import ago
from runstudio.context import options, run_async
from runstudio.options import AlwaysJsonFlag, JsonFlag, read_object_option
from runstudio.output import echo, print_json, print_table

if TYPE_CHECKING:
    from engine.services.context import ServiceContext
    from engine.services.runs import RunDetail, RunSummary

STATUSES = ("RUNNING", "WAITING", "SUCCEEDED", "FAILED", "CANCELED")

RUN_ID_HELP = "The run's id, or a unique prefix of it (at least 6 hex characters, as the studio shows)."


def register(app: typer.Typer) -> None:
    """Add the authoring and run commands to the root app."""
    app.command("publish")(publish_command)
    app.command("definitions")(definitions_command)
    app.command("start")(start_command)
    app.command("runs")(runs_command)
    app.command("show")(show_command)


def with_services(ctx: typer.Context, work: Any) -> Any:
    """Run ``work(services)`` on the configured services for the invocation's tenant."""
    from engine.config import load_settings
    from engine.services.context import open_services

    async def go() -> Any:
        async with open_services(load_settings(), tenant=options(ctx).tenant) as services:
            return await work(services)

    return run_async(go())


def publish_command(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="JSON file with one workflow definition.", exists=True, dir_okay=False)],
    as_json: AlwaysJsonFlag = False,
) -> None:
    """Validate a definition file and publish it as an immutable version; every problem is listed.

    Warnings (e.g. a definition that can call itself) do not stop the publish: each is printed to stderr
    as "warning: …" and listed under "warnings" in the JSON.
    """
    del as_json  # the output is JSON either way; the flag exists so scripts can pass it as elsewhere
    from engine.dsl.validate import DefinitionInvalid
    from engine.services.payloads import parse_json_text
    from engine.services.publish import publish_definition

    raw = parse_json_text(file.read_text(encoding="utf-8"), what=str(file))

    async def work(services: ServiceContext) -> Any:
        return await publish_definition(services, raw)

    try:
        published = with_services(ctx, work)
    except DefinitionInvalid as exc:
        echo(f"error: {file} is not a valid definition ({len(exc.problems)} problem(s)):", err=True)
        for problem in exc.problems:
            echo(f"  {problem.path}: {problem.message}", err=True)
        raise typer.Exit(1) from exc
    for warning in published.warnings:
        echo(f"warning: {warning}", err=True)
    print_json(
        {
            "workflow_id": published.workflow_id,
            "version": published.version,
            "definition_hash": published.definition_hash,
            "created": published.created,
            "warnings": published.warnings,
            # What happened to its Temporal Schedule: created/updated/deleted/unchanged, null if it has none.
            "schedule": published.schedule,
        }
    )


def definitions_command(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List published definitions with their latest version."""
    from engine.store import definitions

    async def work(services: ServiceContext) -> Any:
        return await definitions.list_latest(services.pool, tenant=services.tenant)

    items = with_services(ctx, work)
    if as_json:
        print_json([i.model_dump(mode="json") for i in items])
        return
    if not items:
        echo("No definitions published yet; `runstudio publish FILE` adds one.")
        return
    print_table(
        ["WORKFLOW", "VERSION", "TRIGGER", "NAME"],
        [
            [
                i.workflow_id,
                str(i.latest_version),
                i.trigger_type + (f":{i.trigger_event_name}" if i.trigger_event_name else ""),
                i.name,
            ]
            for i in items
        ],
    )


def start_command(
    ctx: typer.Context,
    workflow_id: str = typer.Argument(..., help="Id of the published workflow."),
    version: int | None = typer.Option(None, "--version", help="Version to run (default: latest)."),
    payload: str | None = typer.Option(None, "--payload", help="Input as JSON, or @FILE to read it from a file."),
    as_json: AlwaysJsonFlag = False,
) -> None:
    """Start a run on Temporal and print its id as JSON: {"run_id": …}."""
    from engine.services.launch import launch_run

    del as_json  # the output is JSON either way
    data = read_object_option(payload, "--payload")

    async def work(services: ServiceContext) -> Any:
        return await launch_run(services, workflow_id=workflow_id, version=version, payload=data)

    print_json({"run_id": with_services(ctx, work)})


def runs_command(
    ctx: typer.Context,
    status: str | None = typer.Option(None, "--status", help=f"Only runs in this status ({', '.join(STATUSES)})."),
    workflow: str | None = typer.Option(
        None, "--workflow", help="Only runs whose workflow id starts with this (case-insensitive)."
    ),
    since: str | None = typer.Option(
        None, "--since", help="Only runs started in this window (15m, 1h, 24h, 7d) or since this ISO time."
    ),
    stuck: bool = typer.Option(False, "--stuck", help="Only stuck runs (RUNNING with no step for over 60 s)."),
    trigger: str | None = typer.Option(None, "--trigger", help="Only runs of this trigger (manual, event, …)."),
    limit: int = typer.Option(50, "--limit", min=1, max=1000, help="How many runs (newest first)."),
    as_json: JsonFlag = False,
) -> None:
    """List runs, newest first; the filters are the studio's."""
    from engine.inbound import InboundRejected
    from engine.services.run_filters import check_trigger, parse_since
    from engine.services.runs import list_runs

    if status is not None and status.upper() not in STATUSES:
        raise typer.BadParameter(
            f"unknown status {status!r}; use one of {', '.join(STATUSES)}", ctx=ctx, param_hint="--status"
        )
    try:
        started_since = None if since is None else parse_since(since, datetime.now(UTC))
        trigger_filter = None if trigger is None else check_trigger(trigger)
    except InboundRejected as exc:
        hint = "--since" if exc.what == "since" else "--trigger"
        raise typer.BadParameter(exc.rule, ctx=ctx, param_hint=hint) from exc

    async def work(services: ServiceContext) -> Any:
        return await list_runs(
            services,
            status=status.upper() if status else None,
            workflow_prefix=workflow,
            since=started_since,
            stuck=stuck,
            trigger=trigger_filter,
            limit=limit,
        )

    items = with_services(ctx, work)
    if as_json:
        print_json(
            [
                {
                    "run_id": r.run_id,
                    "workflow_id": r.workflow_id,
                    "workflow_version": r.workflow_version,
                    "status": r.status,
                    "trigger": r.trigger,
                    "stuck": r.stuck,
                    "started_at": r.started_at,
                    "step_count": r.step_count,
                    "completed_at": r.completed_at,
                    "cancel_requested_at": r.cancel_requested_at,
                    "cancel_requested_by": r.cancel_requested_by,
                }
                for r in items
            ]
        )
        return
    if not items:
        echo("No runs match.")
        return
    now = datetime.now(UTC)
    print_table(
        ["RUN", "STATUS", "WORKFLOW", "TRIGGER", "STARTED", "STEPS"],
        [
            [
                r.run_id,
                r.status + (" (stuck)" if r.stuck else "") + (" (cancel requested)" if _cancel_pending(r) else ""),
                f"{r.workflow_id}@{r.workflow_version}",
                r.trigger,
                ago(r.started_at, now),
                str(r.step_count),
            ]
            for r in items
        ],
    )


def show_command(
    ctx: typer.Context,
    run_id: str = typer.Argument(..., help=RUN_ID_HELP),
    as_json: JsonFlag = False,
) -> None:
    """Show one run: status, redacted input, vars, steps, waits and invocations.

    Also where it is in Temporal: ``temporal_workflow_id`` and ``temporal_ui_url``, the run's page in Temporal's
    Web UI (the embedded stack's, or TEMPORAL_UI_URL; null when no UI is known).
    """
    from engine.services.runs import get_run_detail, resolve_run_id
    from engine.temporal import workflow_id_for_run
    from engine.temporal.ui import run_page_url

    async def work(services: ServiceContext) -> Any:
        detail = await get_run_detail(services, await resolve_run_id(services, run_id))
        diagnosis = None
        if detail.stuck:
            from engine.services.health import diagnose  # the Temporal SDK loads only for a stuck run

            diagnosis = await diagnose(services, detail.run_id)
        endpoints = services.endpoints
        page = run_page_url(endpoints.temporal_ui_url, endpoints.temporal_namespace, detail.run_id)
        return detail, diagnosis, page

    detail, diagnosis, page = with_services(ctx, work)
    temporal_workflow_id = workflow_id_for_run(detail.run_id)
    if as_json:
        print_json(
            {
                **detail.model_dump(mode="json"),
                "stuck_reason": diagnosis.message if diagnosis else None,
                "temporal_workflow_id": temporal_workflow_id,
                "temporal_ui_url": page,
            }
        )
        return
    echo(f"run       {detail.run_id}")
    echo(f"workflow  {detail.workflow_id}@{detail.workflow_version}  trigger {detail.trigger}")
    echo(f"temporal  {temporal_workflow_id}  {page or '(set TEMPORAL_UI_URL for a link to its page)'}")
    echo(f"status    {detail.status}")
    if _cancel_pending(detail):
        echo(
            f"CANCEL    requested at {detail.cancel_requested_at:%Y-%m-%d %H:%M:%S %Z} by "
            f"{detail.cancel_requested_by or 'unknown'}; waiting for a worker to unwind it"
        )
    if diagnosis is not None:
        echo(f"STUCK     queued with no step for over 60 s: {diagnosis.message}")
    if detail.error:
        echo(f"error     {detail.error.get('category')}: {detail.error.get('message')}")
    echo(f"input     {json.dumps(detail.input, ensure_ascii=False)}")
    echo(f"vars      {json.dumps(detail.vars, ensure_ascii=False)}")
    if detail.output is not None:
        echo(f"output    {json.dumps(detail.output, ensure_ascii=False)}")
    echo("steps:")
    for s in detail.steps:
        duration = f"{s.duration_ms} ms" if s.duration_ms is not None else "…"
        error = f"  {s.error.get('category')}: {s.error.get('message')}" if s.error else ""
        echo(f"  {s.path:<32} {s.step_id:<16} {s.status:<9} #{s.attempt} {duration}{error}")
    for w in detail.waits:
        echo(f"wait: {w.wait_type} {w.event_name or ''} key={w.key} {w.status}")


def _cancel_pending(run: RunSummary | RunDetail) -> bool:
    """Temporal accepted a cancel that no worker has applied yet (the run is still open)."""
    return run.cancel_requested_at is not None and run.status in ("RUNNING", "WAITING")
