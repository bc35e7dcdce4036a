"""Every payload Temporal stores for a run is ciphertext: through a client without the codec, and through the
``temporal`` CLI, a run's history holds none of the secrets its payload carried — raw or base64-decoded."""

import asyncio
import base64
import binascii
import json
import re
import subprocess
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.client import Client, WorkflowHistory
from temporalio.exceptions import ApplicationError

from engine.keyring import parse_keys
from engine.services.context import ServiceContext
from engine.services.launch import launch_run
from engine.services.publish import publish_definition
from engine.temporal import workflow_id_for_run
from engine.temporal.codec import ENCODING, KEY_ID_METADATA, PLAIN_DATA_CONVERTER, data_converter
from tests.conftest import TEST_ENCRYPTION_KEYS, venv_binary
from tests.helpers import wait_for_run

PASSWORD = "hunter2-Zq9"
SSN = "123-45-6789"
SECRETS = (PASSWORD, SSN)

SECRETIVE = {
    "id": "secretive",
    "version": 1,
    "name": "Copies its secrets everywhere a payload can go",
    "payloadSchema": {"type": "object", "required": ["password", "ssn"]},
    "steps": [
        {
            "id": "copy",
            "type": "state.assign",
            "assign": {"vars.pw": {"$expr": "payload.password"}, "vars.note": {"$expr": "'ssn ' & payload.ssn"}},
        },
        {
            "id": "echo",
            "type": "action.call",
            "action": "core.echo",
            "version": 1,
            "input": {"password": {"$expr": "payload.password"}, "ssn": {"$expr": "payload.ssn"}},
            "saveAs": "vars.echoed",
        },
        {
            "id": "log",
            "type": "action.call",
            "action": "core.log",
            "version": 1,
            "input": {"message": {"$expr": "'pw ' & payload.password & ' ssn ' & payload.ssn"}},
        },
        {
            "id": "guard",
            "type": "control.tryCatch",
            "captureErrorAs": "err",
            "try": [
                {
                    "id": "explode",
                    "type": "action.call",
                    "action": "core.fail",
                    "version": 1,
                    "input": {"category": "ActionError", "message": {"$expr": "'rejected ' & payload.password"}},
                }
            ],
            "catch": [{"id": "recover", "type": "state.assign", "assign": {"vars.caught": True}}],
        },
        {
            "id": "done",
            "type": "control.return",
            "output": {"pw": {"$expr": "vars.pw"}, "ssn": {"$expr": "vars.echoed.ssn"}},
        },
    ],
}

_BASE64ISH = re.compile(r"[A-Za-z0-9+/_-]{8,}={0,2}")


def leaks(text: str) -> list[str]:
    """Where a secret appears in ``text``: raw, or inside any base64-looking string once decoded (repeatedly)."""
    found = [f"raw {s!r}" for s in SECRETS if s in text]
    seen: set[str] = set()
    pending = [text]
    while pending:
        chunk = pending.pop()
        for candidate in _BASE64ISH.findall(chunk):
            if candidate in seen:
                continue
            seen.add(candidate)
            decoded = _b64(candidate)
            if decoded is None:
                continue
            found += [f"base64 {candidate[:24]}… holds {s!r}" for s in SECRETS if s in decoded]
            pending.append(decoded)
    return found


def _b64(candidate: str) -> str | None:
    padded = candidate + "=" * (-len(candidate) % 4)
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            return decode(padded).decode("utf-8", errors="ignore")
        except (binascii.Error, ValueError):
            continue
    return None


PLAINTEXT_BY_DESIGN = (
    # Search attributes: Temporal indexes them, so they are never encoded (tenant, workflow, version, trigger).
    "/searchAttributes/",
    # The memo is written as plain JSON on purpose (engine.temporal.memo) so Temporal's tools can show it; it
    # holds the same four fields.
    "/memo/fields/",
    # The SDK's own bookkeeping of a local activity (sequence, type, times), written beside its result.
    "/markerRecordedEventAttributes/details/data/",
)


def payloads_of(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every ``{"metadata": …, "data": …}`` object in a history's JSON, with its path."""
    if isinstance(node, dict):
        own = [(path, node)] if "metadata" in node and "data" in node else []
        return own + [p for key, value in node.items() for p in payloads_of(value, f"{path}/{key}")]
    if isinstance(node, list):
        return [p for i, value in enumerate(node) for p in payloads_of(value, f"{path}/")]
    return []


def must_be_encrypted(path: str) -> bool:
    """Whether the payload at ``path`` carries user data (everything but the plaintext-by-design places)."""
    return not any(part in f"{path}/" for part in PLAINTEXT_BY_DESIGN)


async def run_with_secrets(services: ServiceContext) -> str:
    """A succeeded run whose payload, vars, action input, log and a caught failure hold the secrets."""
    await publish_definition(services, SECRETIVE)
    run_id = await launch_run(services, workflow_id="secretive", payload={"password": PASSWORD, "ssn": SSN})
    detail = await wait_for_run(services, run_id)
    assert detail.status == "SUCCEEDED", detail
    return run_id


async def test_history_holds_no_secret_through_a_client_without_the_codec(
    services: ServiceContext, temporal_address: str
) -> None:
    run_id = await run_with_secrets(services)
    # The project's client decodes: the run really carried the secrets through Temporal.
    handle = (await services.temporal()).get_workflow_handle(workflow_id_for_run(run_id))
    result = await handle.result()
    assert result["output"] == {"pw": PASSWORD, "ssn": SSN}
    assert result["vars"]["err"]["message"] == f"rejected {PASSWORD}"

    plain = await Client.connect(temporal_address, data_converter=PLAIN_DATA_CONVERTER)
    history: WorkflowHistory = await plain.get_workflow_handle(workflow_id_for_run(run_id)).fetch_history()
    document = json.loads(history.to_json())
    assert leaks(history.to_json()) == []

    payloads = [payload for path, payload in payloads_of(document) if must_be_encrypted(path)]
    kinds = {event["eventType"] for event in document["events"]}
    # The run crossed the kinds of payload that held the secrets: start input, local-activity markers
    # (load_run), the action's input and result, a failure, and the workflow result.
    assert "EVENT_TYPE_MARKER_RECORDED" in kinds and "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED" in kinds
    assert len(payloads) >= 5
    plain_memo = {
        path.rsplit("/", 1)[-1]
        for path, _ in payloads_of(document)
        if "/memo/fields/" in path and "workflowExecutionStarted" in path
    }
    assert plain_memo <= {"tenant", "workflowId", "workflowVersion", "trigger"}
    encoding = base64.b64encode(ENCODING).decode()
    key_id = base64.b64encode(TEST_ENCRYPTION_KEYS.split(":")[0].encode()).decode()
    for payload in payloads:
        assert payload["metadata"].get("encoding") == encoding, payload["metadata"]
        assert payload["metadata"].get(KEY_ID_METADATA) == key_id

    # A client without the codec cannot read the result at all.
    with pytest.raises(KeyError, match="binary/encrypted"):
        await plain.get_workflow_handle(workflow_id_for_run(run_id)).result()


async def test_temporal_cli_shows_only_ciphertext(services: ServiceContext, temporal_address: str) -> None:
    run_id = await run_with_secrets(services)
    shown = await asyncio.to_thread(
        subprocess.run,
        [
            venv_binary("temporal"),
            "workflow",
            "show",
            "--address",
            temporal_address,
            "--namespace",
            "default",
            "-w",
            workflow_id_for_run(run_id),
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    document = json.loads(shown.stdout)
    assert len(payloads_of(document)) >= 5
    assert leaks(shown.stdout) == []


async def test_failure_messages_and_details_are_ciphertext() -> None:
    converter = data_converter(parse_keys(TEST_ENCRYPTION_KEYS))
    failure = Failure()
    error = ApplicationError(f"login rejected for {PASSWORD}", {"ssn": SSN}, type="ActionError")
    await converter.encode_failure(error, failure)
    wire = failure.SerializeToString()
    assert PASSWORD.encode() not in wire and SSN.encode() not in wire
    assert failure.message == "Encoded failure"
    assert failure.encoded_attributes.metadata["encoding"] == ENCODING
    assert failure.application_failure_info.details.payloads[0].metadata["encoding"] == ENCODING
    decoded = await converter.decode_failure(failure)
    assert isinstance(decoded, ApplicationError) and decoded.message == f"login rejected for {PASSWORD}"
    assert decoded.details == ({"ssn": SSN},)


def test_leak_finder_sees_base64_and_nested_base64() -> None:
    once = base64.b64encode(json.dumps({"password": PASSWORD}).encode()).decode()
    twice = base64.b64encode(Payload(data=SSN.encode()).SerializeToString()).decode()
    assert leaks(f'{{"data": "{once}"}}') and leaks(f'"{twice}"') and leaks(PASSWORD)
    assert leaks('{"data": "bm90aGluZyBoZXJl"}') == []
