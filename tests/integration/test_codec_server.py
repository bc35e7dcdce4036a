"""``runstudio codec-server``: Temporal's remote codec protocol over HTTP on loopback, against a real run's payloads,
with CORS for the configured UI origin only."""

import asyncio
import base64
import json
import re
import subprocess
from collections.abc import AsyncIterator

import httpx
import pytest
import typer
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.client import Client
from typer.testing import CliRunner

from engine.keyring import parse_keys
from engine.services.codec_server import CodecServerOptions, start
from engine.services.context import ServiceContext
from engine.services.launch import launch_run
from engine.temporal import workflow_id_for_run
from engine.temporal.codec import ENCODING, PLAIN_DATA_CONVERTER
from runstudio.commands import codec_server as codec_server_command
from tests.conftest import TEST_ENCRYPTION_KEYS, venv_binary
from tests.helpers import publish_examples, wait_for_run

UI = "http://127.0.0.1:8233"
SECRET = "hunter2-codec"


@pytest.fixture
async def codec_url() -> AsyncIterator[str]:
    """A codec server on a free loopback port with the session's keyring."""
    options = CodecServerOptions(keyring=parse_keys(TEST_ENCRYPTION_KEYS), namespace="default", ui_origin=UI, port=0)
    runner, port = await start(options)
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def encrypted_result(services: ServiceContext, temporal_address: str) -> tuple[str, Payload]:
    """A real run's result as Temporal stores it (read through a client without the codec)."""
    await publish_examples(services, "support_login")
    run_id = await launch_run(
        services,
        workflow_id="support-login",
        payload={"user": "ana", "password": SECRET, "customer": {"ssn": "123-45-6789"}},
    )
    await wait_for_run(services, run_id)
    plain = await Client.connect(temporal_address, data_converter=PLAIN_DATA_CONVERTER)
    history = await plain.get_workflow_handle(workflow_id_for_run(run_id)).fetch_history()
    payload = history.events[-1].workflow_execution_completed_event_attributes.result.payloads[0]
    assert payload.metadata["encoding"] == ENCODING
    return run_id, payload


def body(*payloads: Payload) -> str:
    return json_format.MessageToJson(Payloads(payloads=payloads))


def parsed(response: httpx.Response) -> list[Payload]:
    return list(json_format.Parse(response.text, Payloads()).payloads)


async def test_decode_returns_the_original_payload_of_a_run(
    services: ServiceContext, temporal_address: str, codec_url: str
) -> None:
    _, payload = await encrypted_result(services, temporal_address)
    headers = {"Content-Type": "application/json", "Origin": UI, "X-Namespace": "default"}
    async with httpx.AsyncClient() as http:
        decoded = await http.post(f"{codec_url}/decode", content=body(payload), headers=headers)
        assert decoded.status_code == 200, decoded.text
        assert decoded.headers["Access-Control-Allow-Origin"] == UI
        [original] = parsed(decoded)
        assert original.metadata["encoding"] == b"json/plain"
        assert json.loads(original.data)["payload"]["password"] == SECRET
        # The wire format is Temporal's: base64 data and metadata values.
        wire = json.loads(decoded.text)["payloads"][0]
        assert base64.b64decode(wire["metadata"]["encoding"]) == b"json/plain"

        encoded = await http.post(f"{codec_url}/encode", content=body(original), headers=headers)
        [again] = parsed(encoded)
        assert again.metadata["encoding"] == ENCODING and SECRET.encode() not in again.data
        back = await http.post(f"{codec_url}/decode", content=body(again), headers=headers)
        assert parsed(back) == [original]


async def test_cors_allows_the_ui_origin_only(codec_url: str) -> None:
    async with httpx.AsyncClient() as http:
        preflight = await http.options(
            f"{codec_url}/decode",
            headers={
                "Origin": UI,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,x-namespace",
            },
        )
        assert preflight.status_code == 204
        assert preflight.headers["Access-Control-Allow-Origin"] == UI
        assert "x-namespace" in preflight.headers["Access-Control-Allow-Headers"]
        assert "POST" in preflight.headers["Access-Control-Allow-Methods"]

        evil = "http://127.0.0.1:9999"
        refused_preflight = await http.options(f"{codec_url}/decode", headers={"Origin": evil})
        assert refused_preflight.status_code == 403
        assert "Access-Control-Allow-Origin" not in refused_preflight.headers
        # A cross-site "simple" POST never reaches the keyring.
        refused = await http.post(
            f"{codec_url}/decode", content=body(Payload()), headers={"Origin": evil, "Content-Type": "text/plain"}
        )
        assert refused.status_code == 403 and evil in refused.json()["error"]

        other_namespace = await http.post(
            f"{codec_url}/decode",
            content=body(Payload()),
            headers={"Content-Type": "application/json", "X-Namespace": "payments"},
        )
        assert other_namespace.status_code == 403 and "payments" in other_namespace.json()["error"]
        not_json = await http.post(f"{codec_url}/decode", content="nope", headers={"Content-Type": "application/json"})
        assert not_json.status_code == 400


async def test_a_payload_under_an_unknown_key_comes_back_still_encrypted(codec_url: str) -> None:
    foreign = parse_keys("elsewhere:" + base64.b64encode(b"E" * 32).decode())
    from engine.temporal.codec import EncryptionCodec

    sealed = EncryptionCodec(foreign).seal(Payload(metadata={"encoding": b"json/plain"}, data=b'"x"'))
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{codec_url}/decode", content=body(sealed), headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 200
    assert parsed(response) == [sealed]


async def test_temporal_cli_decodes_through_the_codec_endpoint(
    services: ServiceContext, temporal_address: str, codec_url: str
) -> None:
    run_id, _ = await encrypted_result(services, temporal_address)
    command = [venv_binary("temporal"), "workflow", "show", "--address", temporal_address, "-w"]
    command += [workflow_id_for_run(run_id), "-o", "json", "--codec-endpoint", codec_url]
    shown = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, timeout=60, check=True)
    # The CLI prints payload data base64-encoded; decoded by our server, it is the plain JSON again.
    encoded_secret = base64.b64encode(ENCODING).decode()
    assert encoded_secret not in shown.stdout
    data = re.findall(r'"data": "([A-Za-z0-9+/=]+)"', shown.stdout)
    assert any(SECRET.encode() in base64.b64decode(value) for value in data)


def test_command_help_states_the_risk() -> None:
    app = typer.Typer()
    codec_server_command.register(app)
    app.command("noop")(lambda: None)  # a second command keeps typer from collapsing the app into one
    result = CliRunner().invoke(app, ["codec-server", "--help"], terminal_width=200)
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "127.0.0.1" in text and "anyone who can reach the port" in text
    assert "--ui-origin" in text and "--port" in text and "--json" in text
