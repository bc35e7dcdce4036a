"""http.request against a real HTTP server on 127.0.0.1 (no mocks of httpx)."""

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from engine.actions.base import invoke
from engine.actions.builtin import http as http_action
from engine.actions.builtin.http import HTTP_REQUEST, TEXT_LIMIT_BYTES
from engine.actions.errors import ActionError, ErrorCategory
from tests.unit.actions.local_http import LocalServer, local_http_server
from tests.unit.actions.support import make_context

LOCAL = make_context(allowed_hosts=frozenset({"127.0.0.1"}))


@pytest.fixture
async def server() -> AsyncIterator[LocalServer]:
    async with local_http_server() as running:
        yield running


async def request(data: dict[str, Any]) -> dict[str, Any]:
    return await invoke(HTTP_REQUEST, LOCAL, data)


async def failure(data: dict[str, Any]) -> ActionError:
    with pytest.raises(ActionError) as caught:
        await request(data)
    return caught.value


async def test_get_to_an_allowed_host_returns_status_headers_and_json(server: LocalServer) -> None:
    output = await request({"url": server.url("/echo"), "headers": {"X-Test": "hi"}})

    assert output["status"] == 200
    assert output["json"] == {"method": "GET", "header": "hi", "body": ""}
    assert json.loads(output["text"]) == output["json"]
    assert output["headers"]["x-reply"] == "yes"
    assert set(output) == {"status", "headers", "json", "text"}


async def test_post_sends_a_json_body(server: LocalServer) -> None:
    output = await request({"method": "post", "url": server.url("/echo"), "json": {"a": [1, 2]}})

    assert output["json"]["method"] == "POST"
    assert json.loads(output["json"]["body"]) == {"a": [1, 2]}


async def test_put_sends_a_text_body(server: LocalServer) -> None:
    output = await request({"method": "PUT", "url": server.url("/echo"), "body": "plain words"})

    assert output["json"]["body"] == "plain words"


async def test_long_text_is_truncated_to_64_kib_on_a_character_boundary(server: LocalServer) -> None:
    output = await request({"url": server.url(f"/text?bytes={TEXT_LIMIT_BYTES * 2}")})

    assert output["json"] is None
    assert len(output["text"].encode()) == TEXT_LIMIT_BYTES
    assert set(output["text"]) == {"é"}


async def test_mislabelled_json_leaves_json_null_and_keeps_text(server: LocalServer) -> None:
    output = await request({"url": server.url("/not-json")})

    assert output["json"] is None
    assert output["text"] == "{oops"


async def test_disallowed_host_fails_without_connecting(server: LocalServer) -> None:
    error = await failure({"url": f"http://localhost:{server.port}/echo?token=secret"})

    assert error.category == ErrorCategory.NOT_ALLOWED
    assert "'localhost'" in error.message
    assert "RUNSTUDIO_HTTP_ALLOWED_HOSTS" in error.message
    assert error.details == {"host": "localhost", "allowedHosts": ["127.0.0.1"]}
    assert server.connections == 0


async def test_server_error_is_an_http_error_with_the_status(server: LocalServer) -> None:
    error = await failure({"url": server.url("/status/500?apiKey=hidden")})

    assert error.category == ErrorCategory.HTTP
    assert error.details == {"status": 500, "body": "server says no"}
    assert error.message == f"GET http://127.0.0.1:{server.port}/status/500 answered HTTP 500"


async def test_redirects_are_not_followed(server: LocalServer) -> None:
    error = await failure({"url": server.url("/redirect")})

    assert error.category == ErrorCategory.HTTP
    assert error.details is not None
    assert error.details["status"] == 302
    assert error.details["location"] == "http://elsewhere.example/"
    assert "not followed" in error.message
    assert server.connections == 1


async def test_a_server_that_never_answers_times_out(server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # Not timed (a loaded machine stretches any wall-clock bound): the action must give up on the
    # timeout it was given, for the whole call and for httpx's phases alike. The server never answers,
    # so only a timeout can end the call at all.
    bounds: list[float | None] = []
    clients: list[httpx.Timeout] = []
    total_bound = asyncio.timeout

    def recording_timeout(delay: float | None) -> asyncio.Timeout:
        bounds.append(delay)
        return total_bound(delay)

    class RecordingClient(httpx.AsyncClient):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            clients.append(self.timeout)

    # Only the action's module sees the recording asyncio: the event loop keeps the real one.
    monkeypatch.setattr(http_action, "asyncio", SimpleNamespace(timeout=recording_timeout))
    monkeypatch.setattr(httpx, "AsyncClient", RecordingClient)

    error = await failure({"url": server.url("/hang"), "timeoutMs": 200})

    assert error.category == ErrorCategory.TIMEOUT
    assert error.message == f"GET http://127.0.0.1:{server.port}/hang did not complete within 200 ms"
    assert bounds == [0.2]
    assert clients == [httpx.Timeout(0.2)]
    assert server.connections == 1


async def test_oversized_response_is_refused(server: LocalServer) -> None:
    error = await failure({"url": server.url("/huge")})

    assert error.category == ErrorCategory.ACTION
    assert "refuses larger responses" in error.message


async def test_connection_refused_is_a_network_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]

    error = await failure({"url": f"http://127.0.0.1:{closed_port}/"})

    assert error.category == ErrorCategory.NETWORK
    assert "ConnectError" in error.message


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({}, "url"),
        ({"url": "ftp://127.0.0.1/"}, "url"),
        ({"url": "/relative"}, "url"),
        ({"url": "http://127.0.0.1/", "timeoutMs": 60_001}, "timeoutMs"),
        ({"url": "http://127.0.0.1/", "timeoutMs": 0}, "timeoutMs"),
        ({"url": "http://127.0.0.1/", "method": "BREW"}, "method"),
        ({"url": "http://127.0.0.1/", "timeoutMS": 5}, "timeoutMS"),
        ({"url": "http://127.0.0.1/", "json": {}, "body": "x"}, "(input)"),
        ({"url": "http://127.0.0.1/", "headers": {"X-N": 1}}, "headers.X-N"),
    ],
)
async def test_bad_input_is_a_validation_error(data: dict[str, Any], path: str) -> None:
    error = await failure(data)

    assert error.category == ErrorCategory.VALIDATION
    assert f"{path}: " in error.message
