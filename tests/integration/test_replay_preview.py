"""The replay side-effect preview on real runs: reused, runs again and unknown, unedited and edited."""

import json
import uuid
from typing import Any

import pytest

from engine.redaction import PLACEHOLDER
from engine.services.context import ServiceContext
from engine.services.launch import launch_run
from engine.services.payloads import PayloadRejected
from engine.services.publish import publish_definition
from engine.services.replay_preview import ReplayPreview, preview_replay
from engine.services.runs import get_run_detail
from engine.stack import Endpoints
from tests.conftest import services_env
from tests.helpers import publish_examples, runstudio, wait_for_run


def outbox(step_id: str, key: Any, **extra: Any) -> dict[str, Any]:
    """A ``notify.outbox`` call (a real side effect) with the idempotency key ``key``."""
    return {
        "id": step_id,
        "type": "action.call",
        "action": "notify.outbox",
        "version": 1,
        "input": {"topic": step_id, "payload": {"order": {"$expr": "payload.orderId"}}},
        "idempotencyKey": key,
        **extra,
    }


PREVIEW_DEMO: dict[str, Any] = {
    "id": "preview-demo",
    "version": 1,
    "name": "Replay preview demo",
    "payloadSchema": {
        "type": "object",
        "required": ["orderId", "card"],
        "properties": {"orderId": {"type": "string"}, "card": {"type": "string"}, "items": {"type": "array"}},
    },
    "redact": ["card"],
    "steps": [
        {"id": "prep", "type": "state.assign", "assign": {"vars.orderKey": {"$expr": "'order-' & payload.orderId"}}},
        {"id": "echo", "type": "action.call", "action": "core.echo", "version": 1, "input": {"hello": "world"}},
        outbox("notify", {"$expr": "vars.orderKey & '-notify'"}, saveAs="vars.sent"),
        outbox("charge", {"$expr": "'charge-' & payload.card"}),
        outbox("stamp", {"$expr": "'stamp-' & $string(vars.sent.outboxId)"}),
        outbox("clock", {"$expr": "'at-' & $now()"}),
        outbox("per-run", {"$expr": "meta.run_id & '-audit'"}),
        {
            "id": "each",
            "type": "control.forEach",
            "items": {"$expr": "payload.items"},
            "body": [
                {
                    "id": "line",
                    "type": "action.call",
                    "action": "core.log",
                    "version": 1,
                    "input": {"message": {"$expr": "item"}},
                    "idempotencyKey": {"$expr": "payload.orderId & '-' & item"},
                }
            ],
        },
    ],
}


async def finished_run(services: ServiceContext) -> tuple[str, dict[str, Any]]:
    await publish_definition(services, PREVIEW_DEMO)
    payload = {"orderId": f"o-{uuid.uuid4().hex[:8]}", "card": "4111-1111-1111-1111", "items": ["a", "b"]}
    run_id = await launch_run(services, workflow_id="preview-demo", payload=payload)
    detail = await wait_for_run(services, run_id)
    assert detail.status == "SUCCEEDED", detail.error
    return run_id, payload


def outcomes(preview: ReplayPreview) -> list[tuple[str, str, str | None, bool, str]]:
    return [(c.step_id, c.action, c.iteration, c.pure, c.outcome) for c in preview.calls]


async def test_unedited_replay_reuses_known_keys_and_flags_run_time_ones(services: ServiceContext) -> None:
    run_id, _ = await finished_run(services)
    preview = await preview_replay(services, run_id, payload=None)
    assert outcomes(preview) == [
        ("echo", "core.echo", None, True, "runs again"),
        ("notify", "notify.outbox", None, False, "reused"),
        ("charge", "notify.outbox", None, False, "reused"),
        ("stamp", "notify.outbox", None, False, "unknown"),
        ("clock", "notify.outbox", None, False, "unknown"),
        ("per-run", "notify.outbox", None, False, "runs again"),
        ("line", "core.log", "0", True, "unknown"),
        ("line", "core.log", "1", True, "unknown"),
    ]
    reasons = {c.step_id: c.reason for c in preview.calls}
    assert reasons["echo"].startswith("no idempotency key")
    assert reasons["stamp"] == "the key reads vars.sent, set from the output of notify.outbox v1 at root.steps[2]"
    assert reasons["clock"] == "the key reads the clock"
    assert "includes the replay's own run id" in reasons["per-run"]
    assert "reads item" in reasons["line"]
    # stamp, clock and per-run; the pure echo and log calls never count, the reused ones are answered.
    assert (preview.side_effects, preview.reused, preview.runs_again, preview.unknown) == (3, 2, 2, 4)
    assert preview.edited is False
    assert all(c.original_status == "SUCCEEDED" for c in preview.calls)


async def test_edited_payload_makes_new_keys_and_restores_placeholders(services: ServiceContext) -> None:
    run_id, _ = await finished_run(services)
    edited = (await get_run_detail(services, run_id)).input
    assert edited["card"] == PLACEHOLDER
    edited["orderId"] = "o-edited"
    preview = await preview_replay(services, run_id, payload=edited)
    by_id = {c.step_id: c for c in preview.calls}
    # The orderId feeds vars.orderKey, so notify's key is new; the card placeholder gets the original back.
    assert by_id["notify"].outcome == "runs again"
    assert by_id["notify"].reason == "a new key: the ledger has never seen it"
    assert by_id["charge"].outcome == "reused"
    assert preview.edited is True
    assert preview.side_effects == 4

    edited["card"] = "5500-0000-0000-0004"
    changed_card = await preview_replay(services, run_id, payload=edited)
    assert {c.step_id: c.outcome for c in changed_card.calls}["charge"] == "runs again"
    assert changed_card.side_effects == 5


async def test_a_key_whose_last_attempt_failed_runs_again(services: ServiceContext) -> None:
    run_id, payload = await finished_run(services)
    await services.pool.execute(
        "UPDATE workflow_action_invocations SET status = 'FAILED' WHERE tenant = $1 AND idempotency_key = $2",
        services.tenant,
        f"charge-{payload['card']}",
    )
    preview = await preview_replay(services, run_id, payload=None)
    charge = next(c for c in preview.calls if c.step_id == "charge")
    assert (charge.outcome, charge.original_status) == ("runs again", "FAILED")
    assert "last attempt is FAILED" in charge.reason


async def test_an_invalid_edited_payload_is_refused_like_the_replay(services: ServiceContext) -> None:
    run_id, _ = await finished_run(services)
    with pytest.raises(PayloadRejected, match="orderId"):
        await preview_replay(services, run_id, payload={"card": PLACEHOLDER})


async def test_the_preview_needs_no_temporal(services: ServiceContext) -> None:
    run_id, _ = await finished_run(services)
    # Nothing listens on port 1: any Temporal call would fail, so a preview proves it makes none.
    offline = ServiceContext(
        pool=services.pool,
        endpoints=Endpoints(
            database_url=services.endpoints.database_url, temporal_address="127.0.0.1:1", temporal_namespace="default"
        ),
        tenant=services.tenant,
    )
    preview = await preview_replay(offline, run_id, payload=None)
    assert preview.reused == 2


async def count_rows(services: ServiceContext) -> tuple[int, int]:
    runs = await services.pool.fetchval("SELECT count(*) FROM workflow_runs WHERE tenant = $1", services.tenant)
    audit = await services.pool.fetchval("SELECT count(*) FROM workflow_run_audit WHERE tenant = $1", services.tenant)
    return runs, audit


async def test_cli_dry_run_prints_the_preview_and_starts_nothing(services: ServiceContext) -> None:
    run_id, _ = await finished_run(services)
    env = services_env(services)
    tenant = ["--tenant", services.tenant]
    before = await count_rows(services)
    table = runstudio(*tenant, "replay", run_id[:8], "--dry-run", env=env)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0] == f"replay of run {run_id} (preview-demo v1) with the original input:"
    assert lines[1].split() == ["STEP", "ACTION", "PURE", "OUTCOME", "WHY"]
    assert lines[3].split()[:5] == ["root.steps[2]", "notify.outbox", "v1", "no", "reused"]
    assert lines[-1] == "3 side effects will run again (2 reused, 2 run again, 4 unknown); nothing was started"

    as_json = runstudio(
        *tenant, "replay", run_id, "--dry-run", "--payload", '{"orderId": "o-2", "card": "[REDACTED]"}', "--json",
        env=env,
    )  # fmt: skip
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert (data["run_id"], data["edited"], data["side_effects"]) == (run_id, True, 4)
    assert [c["outcome"] for c in data["calls"]][:3] == ["runs again", "runs again", "reused"]
    assert await count_rows(services) == before


async def test_cli_dry_run_refuses_a_bad_payload_with_one_error_line(services: ServiceContext) -> None:
    run_id, _ = await finished_run(services)
    env = services_env(services)
    before = await count_rows(services)
    result = runstudio(
        "--tenant", services.tenant, "replay", run_id, "--dry-run", "--payload", '{"card": "x"}', env=env
    )
    assert result.returncode == 1
    assert result.stderr.count("error:") == 1 and "orderId" in result.stderr
    assert result.stdout == ""
    assert await count_rows(services) == before


async def test_cli_dry_run_of_a_run_without_action_calls_says_so(services: ServiceContext) -> None:
    await publish_examples(services, "support_login")
    run_id = await launch_run(
        services, workflow_id="support-login", payload={"user": "ana", "password": "hunter2", "customer": {}}
    )
    await wait_for_run(services, run_id)
    env = services_env(services)
    result = runstudio("--tenant", services.tenant, "replay", run_id, "--dry-run", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1:] == [
        "the original run made no action calls; a replay repeats none",
        "0 side effects will run again (0 reused, 0 run again, 0 unknown); nothing was started",
    ]
