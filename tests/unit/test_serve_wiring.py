"""The engine-free pieces of ``runstudio serve``: what counts as loopback, the URL it prints, the command it runs."""

import shlex
import sys

import pytest

from studio_tui.serve import cookie_value, is_loopback, open_url, studio_command
from tests.unit.test_import_budget import HEAVY, imported


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST.", True),
        ("studio.localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("studio.example.com", False),
        ("localhost.example.com", False),
    ],
)
def test_only_names_this_machine_alone_reaches_count_as_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_the_printed_url_carries_the_token_quoted_and_brackets_ipv6() -> None:
    assert open_url("127.0.0.1", 8000, None) == "http://127.0.0.1:8000/"
    assert open_url("::1", 8001, "a b/c+d=e") == "http://[::1]:8001/?token=a%20b%2Fc%2Bd%3De"


def test_the_cookie_holds_a_digest_of_the_token_not_the_token() -> None:
    value = cookie_value("correct-horse-battery-staple")
    assert "correct-horse" not in value and len(value) == 64
    assert value != cookie_value("correct-horse-battery-stapler")


def test_each_session_runs_this_interpreters_studio_with_the_tenant_and_read_only() -> None:
    argv = shlex.split(studio_command(tenant="ops; rm -rf /", read_only=True))
    assert argv[0] == sys.executable
    assert argv[-4:] == ["--tenant", "ops; rm -rf /", "tui", "--read-only"]  # quoted: one argument, not a command
    assert shlex.split(studio_command(tenant="ops", read_only=False))[-3:] == ["--tenant", "ops", "tui"]


def test_the_server_process_loads_neither_textual_nor_the_driver_nor_the_sdk() -> None:
    # Each session's studio runs in its own process: the server only relays bytes, so it loads none of them.
    names, result = imported("import studio_tui.serve, runstudio.commands.serve")
    assert result.returncode == 0, result.stderr[-2000:]
    assert {"textual_serve", "aiohttp"} <= names
    assert names & HEAVY == set()
