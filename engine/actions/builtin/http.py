"""The ``http.request`` action (version 1): one HTTP call to an allow-listed host, with a hard timeout."""

import asyncio
import json
from collections.abc import Mapping
from typing import Any, Final, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from engine.actions.base import ActionContext, ActionSpec
from engine.actions.errors import ActionError, ErrorCategory

ALLOWED_HOSTS_ENV: Final = "RUNSTUDIO_HTTP_ALLOWED_HOSTS"
"""The environment variable (comma-separated hosts) the worker's settings read the allow-list from."""

MAX_TIMEOUT_MS: Final = 60_000
TEXT_LIMIT_BYTES: Final = 64 * 1024
"""``text`` in the output is cut to this many UTF-8 bytes."""
MAX_BODY_BYTES: Final = 1024 * 1024
"""Larger responses are refused: the output travels in a Temporal payload (2 MiB limit by default)."""
_ERROR_BODY_CHARS: Final = 1024

HttpMethod = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
"""Methods RFC 9110 calls safe: a call with one of them is side-effect free (``ActionSpec.pure``)."""


class HttpRequestInput(BaseModel):
    """One request. ``json`` and ``body`` are mutually exclusive."""

    model_config = ConfigDict(extra="forbid", validate_by_name=True)

    method: HttpMethod = "GET"
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    # Aliased because a field named ``json`` would shadow BaseModel.json.
    json_body: Any = Field(default=None, alias="json")
    body: str | None = None
    timeout_ms: int = Field(default=10_000, alias="timeoutMs", ge=1, le=MAX_TIMEOUT_MS)

    @field_validator("method", mode="before")
    @classmethod
    def _upper_method(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        try:
            url = httpx.URL(value)
        except httpx.InvalidURL as exc:
            raise ValueError(f"not a valid URL: {exc}") from exc
        if url.scheme not in ("http", "https"):
            raise ValueError("must be an absolute http:// or https:// URL")
        if not url.host:
            raise ValueError("has no host")
        return value

    @model_validator(mode="after")
    def _one_body(self) -> "HttpRequestInput":
        if self.body is not None and "json_body" in self.model_fields_set:
            raise ValueError("give either json or body, not both")
        return self


class HttpResponseOutput(BaseModel):
    """The answer; ``json`` is set when the response declares a JSON content type and parses."""

    model_config = ConfigDict(validate_by_name=True)

    status: int
    headers: dict[str, str]
    json_body: Any = Field(default=None, alias="json")
    text: str


async def _request(ctx: ActionContext, data: HttpRequestInput) -> HttpResponseOutput:
    url = httpx.URL(data.url)
    _check_allowed(url, ctx.http_allowed_hosts)
    where = f"{data.method} {_display_url(url)}"
    try:
        # httpx's timeout applies to each phase separately; the outer bound makes timeoutMs a total.
        async with asyncio.timeout(data.timeout_ms / 1000):
            response, content = await _send(data, url)
    except (httpx.TimeoutException, TimeoutError) as exc:
        raise ActionError(ErrorCategory.TIMEOUT, f"{where} did not complete within {data.timeout_ms} ms") from exc
    except httpx.RequestError as exc:
        raise ActionError(ErrorCategory.NETWORK, f"{where} failed: {type(exc).__name__}: {exc}") from exc
    text = content.decode(response.encoding or "utf-8", errors="replace")
    if not 200 <= response.status_code < 300:
        raise _http_error(where, response, text)
    return HttpResponseOutput(
        status=response.status_code,
        headers=dict(response.headers.items()),
        json_body=_parse_json(response, text),
        text=_truncate_utf8(text, TEXT_LIMIT_BYTES),
    )


def is_safe_request(resolved_input: Mapping[str, Any]) -> bool:
    """Whether the request's method is safe (GET, HEAD, OPTIONS; GET when absent, as the input model says)."""
    method = resolved_input.get("method", "GET")
    return isinstance(method, str) and method.upper() in SAFE_METHODS


HTTP_REQUEST = ActionSpec(
    name="http.request",
    version=1,
    description=f"Make one HTTP request to a host listed in {ALLOWED_HOSTS_ENV}.",
    input_model=HttpRequestInput,
    output_model=HttpResponseOutput,
    handler=_request,
    pure=is_safe_request,
)


def _check_allowed(url: httpx.URL, allowed_hosts: frozenset[str]) -> None:
    allowed = {host.strip().strip("[]").lower() for host in allowed_hosts}
    # Accept either spelling of an internationalised name (Unicode or punycode).
    if {url.host, url.raw_host.decode("ascii")} & allowed:
        return
    raise ActionError(
        ErrorCategory.NOT_ALLOWED,
        f"host {url.host!r} is not allowed for http.request; add it to {ALLOWED_HOSTS_ENV} "
        "(comma-separated host names or IP addresses) in the worker's environment and restart the worker",
        {"host": url.host, "allowedHosts": sorted(allowed)},
    )


async def _send(data: HttpRequestInput, url: httpx.URL) -> tuple[httpx.Response, bytes]:
    # Redirects are not followed: the target could be a host outside the allow-list.
    async with httpx.AsyncClient(timeout=data.timeout_ms / 1000, follow_redirects=False) as client:
        request = client.build_request(
            data.method,
            url,
            headers=data.headers,
            json=data.json_body if "json_body" in data.model_fields_set else None,
            content=data.body,
        )
        response = await client.send(request, stream=True)
        try:
            return response, await _read_limited(response, data.method, url)
        finally:
            await response.aclose()


async def _read_limited(response: httpx.Response, method: str, url: httpx.URL) -> bytes:
    content = bytearray()
    async for chunk in response.aiter_bytes():
        content += chunk
        if len(content) > MAX_BODY_BYTES:
            raise ActionError(
                ErrorCategory.ACTION,
                f"{method} {_display_url(url)} returned more than {MAX_BODY_BYTES} bytes; "
                "http.request refuses larger responses",
                {"status": response.status_code},
            )
    return bytes(content)


def _http_error(where: str, response: httpx.Response, text: str) -> ActionError:
    details: dict[str, Any] = {"status": response.status_code, "body": text[:_ERROR_BODY_CHARS]}
    message = f"{where} answered HTTP {response.status_code}"
    location = response.headers.get("location")
    if location is not None:
        details["location"] = location
        message += f" (redirect to {location} not followed)"
    return ActionError(ErrorCategory.HTTP, message, details)


def _parse_json(response: httpx.Response, text: str) -> Any:
    media_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        return None
    try:
        return json.loads(text)
    except ValueError:
        # A server that mislabels its body still yields its text; json stays null.
        return None


def _truncate_utf8(text: str, limit: int) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    # "ignore" only drops the multi-byte character the cut may have split.
    return encoded[:limit].decode("utf-8", errors="ignore")


def _display_url(url: httpx.URL) -> str:
    # Without query or user info: those often carry credentials, and messages reach the read-model.
    return f"{url.scheme}://{url.netloc.decode('ascii')}{url.path}"
