"""Replay uses the original secrets without anyone seeing them; views and exports never contain them."""

import json
from pathlib import Path

import pytest

from engine.redaction import PLACEHOLDER
from engine.services.audit import Actor
from engine.services.context import ServiceContext
from engine.services.export import build_export, export_run
from engine.services.launch import launch_run
from engine.services.payloads import PayloadRejected
from engine.services.replay import replay_run
from engine.services.runs import get_run_detail, list_runs
from tests.helpers import publish_examples, wait_for_run

SECRETS = ("hunter2-secret", "123-45-6789")
PAYLOAD = {"user": "ana", "password": SECRETS[0], "customer": {"ssn": SECRETS[1], "name": "ACME"}}
ACTOR = Actor(user="oncall", source="ssh:10.0.0.7")


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


async def started_login_run(services: ServiceContext) -> str:
    await publish_examples(services, "support_login")
    run_id = await launch_run(services, workflow_id="support-login", payload=PAYLOAD)
    await wait_for_run(services, run_id)
    return run_id


async def test_views_show_placeholders_and_never_the_secrets(services: ServiceContext) -> None:
    run_id = await started_login_run(services)
    detail = await get_run_detail(services, run_id)
    assert detail.input == {
        "user": "ana",
        "password": PLACEHOLDER,
        "customer": {"ssn": PLACEHOLDER, "name": "ACME"},
    }
    assert detail.vars["passwordLength"] == len(SECRETS[0])
    assert_no_secret(detail.model_dump_json())
    assert_no_secret(json.dumps([r.model_dump(mode="json") for r in await list_runs(services)]))


async def test_unedited_replay_runs_with_the_original_input(services: ServiceContext) -> None:
    original = await started_login_run(services)
    new_run_id = await replay_run(services, original, payload=None, actor=ACTOR)
    new = await wait_for_run(services, new_run_id)
    assert new.status == "SUCCEEDED", new.error
    assert new.trigger == "replay"
    assert new.trigger_metadata["replayOfRunId"] == original
    assert new.vars == {"user": "ana", "passwordLength": len(SECRETS[0]), "ssnLast4": "6789"}
    stored = await services.pool.fetchval(
        "SELECT input_json FROM workflow_runs WHERE tenant = $1 AND run_id = $2", services.tenant, new_run_id
    )
    assert services.keyring.open_json(stored) == PAYLOAD  # sealed at rest, the original inside
    audit = (await get_run_detail(services, original)).audit
    assert [(a.action, a.actor, a.source, a.details["newRunId"], a.details["edited"]) for a in audit] == [
        ("replay", "oncall", "ssh:10.0.0.7", new_run_id, False)
    ]


async def test_edited_replay_keeps_secrets_behind_unchanged_placeholders(services: ServiceContext) -> None:
    original = await started_login_run(services)
    edited = (await get_run_detail(services, original)).input
    edited["user"] = "bob"
    assert_no_secret(json.dumps(edited))
    new_run_id = await replay_run(services, original, payload=edited, actor=ACTOR)
    new = await wait_for_run(services, new_run_id)
    assert new.vars == {"user": "bob", "passwordLength": len(SECRETS[0]), "ssnLast4": "6789"}
    assert new.trigger_metadata == {"replayOfRunId": original, "edited": True}


async def test_a_placeholder_where_there_was_no_secret_is_refused(services: ServiceContext) -> None:
    original = await started_login_run(services)
    edited = (await get_run_detail(services, original)).input
    edited["user"] = PLACEHOLDER
    with pytest.raises(PayloadRejected, match=r"\$\.user holds the redaction placeholder"):
        await replay_run(services, original, payload=edited, actor=ACTOR)
    assert len(await list_runs(services)) == 1


async def test_edited_replay_is_validated_against_the_schema(services: ServiceContext) -> None:
    original = await started_login_run(services)
    with pytest.raises(PayloadRejected, match="user"):
        await replay_run(services, original, payload={"password": PLACEHOLDER}, actor=ACTOR)


async def test_export_is_one_redacted_document_and_is_audited(services: ServiceContext, tmp_path: Path) -> None:
    run_id = await started_login_run(services)
    await replay_run(services, run_id, payload=None, actor=ACTOR)
    target = await export_run(services, run_id, actor=ACTOR, path=tmp_path / "out" / "run.json")
    text = target.read_text()
    assert_no_secret(text)
    document = json.loads(text)
    assert set(document) >= {"run", "definition", "steps", "waits", "invocations", "events", "audit", "logs"}
    assert document["run"]["run_id"] == run_id
    assert document["run"]["input"]["password"] == PLACEHOLDER
    assert document["definition"]["id"] == "support-login"
    assert [s["step_id"] for s in document["steps"]] == ["copy"]
    assert [a["action"] for a in document["audit"]] == ["replay"]
    assert [a.action for a in (await get_run_detail(services, run_id)).audit] == ["replay", "export"]
    assert_no_secret(json.dumps(await build_export(services, run_id)))


async def test_cli_replay_and_export(services: ServiceContext, tmp_path: Path) -> None:
    import asyncio
    import subprocess
    import sys

    from tests.conftest import cli_env

    run_id = await started_login_run(services)
    env = cli_env(
        RUNSTUDIO_DATABASE_URL=services.endpoints.database_url,
        TEMPORAL_ADDRESS=services.endpoints.temporal_address,
        SSH_CONNECTION="192.0.2.5 50000 192.0.2.1 22",
    )
    base = [sys.executable, "-c", "from runstudio.cli import main; main()", "--tenant", services.tenant]
    replayed = await asyncio.to_thread(
        subprocess.run, [*base, "replay", run_id], env=env, capture_output=True, text=True, timeout=60
    )
    assert replayed.returncode == 0, replayed.stderr
    new_run_id = json.loads(replayed.stdout)["run_id"]
    new = await wait_for_run(services, new_run_id)
    assert new.vars["passwordLength"] == len(SECRETS[0])
    target = tmp_path / "export.json"
    exported = await asyncio.to_thread(
        subprocess.run,
        [*base, "export", run_id, "-o", str(target)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert exported.returncode == 0, exported.stderr
    assert str(target) in exported.stdout
    assert_no_secret(target.read_text())
    audit = (await get_run_detail(services, run_id)).audit
    assert [(a.action, a.source) for a in audit] == [("replay", "ssh:192.0.2.5"), ("export", "ssh:192.0.2.5")]
