"""Who may open a served studio: loopback by default, a token off loopback, and only its own pages.

These talk HTTP to the real ``runstudio serve`` process; no browser session starts a studio here, so no
database is needed.
"""

import json
import secrets
import socket
import subprocess
from pathlib import Path

import aiohttp
import httpx

from tests.browser.served import serve_argv, serving
from tests.conftest import cli_env

TOKEN = secrets.token_urlsafe(24)


def serve_env(tmp_path: Path) -> dict[str, str]:
    env = cli_env(RUNSTUDIO_HOME=str(tmp_path / "home"))
    env.pop("RUNSTUDIO_SERVE_TOKEN", None)
    return env


def run_serve(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    result = subprocess.run(serve_argv(*args), env=env, capture_output=True, text=True, timeout=60)
    return result.returncode, result.stdout, result.stderr


def test_a_public_bind_without_a_token_is_refused_naming_the_token(tmp_path: Path) -> None:
    env = serve_env(tmp_path)
    code, out, err = run_serve("serve", "--host", "0.0.0.0", "--port", "0", env=env)
    assert code == 2, err
    assert out == ""
    (line,) = err.splitlines()
    assert line.startswith("error: --host 0.0.0.0 is reachable from other machines: give --token"), line
    assert line.endswith("see `runstudio serve --help`")

    code, _, err = run_serve("serve", "--host", "0.0.0.0", "--token", "short", env=env)
    assert code == 2
    assert "--token must be at least 16 characters" in err


def test_with_a_token_the_page_and_its_websocket_need_it(tmp_path: Path) -> None:
    args = ("serve", "--host", "0.0.0.0", "--port", "0", "--token", TOKEN, "--json")
    with serving(*args, env=serve_env(tmp_path), workdir=tmp_path) as served:
        port = served.ready["port"]
        # A wildcard bind prints this machine's name, which other machines can open.
        assert served.ready["url"] == f"http://{socket.gethostname()}:{port}/?token={TOKEN}"
        assert served.ready["token_required"] is True

        bare = httpx.get(f"{served.base}/")
        assert bare.status_code == 403
        assert "needs its token" in bare.text
        assert httpx.get(f"{served.base}/static/js/textual.js").status_code == 403
        assert httpx.get(f"{served.base}/?token=not-the-token-at-all").status_code == 403

        with httpx.Client(base_url=served.base) as browser:
            entry = browser.get(f"/?token={TOKEN}&fontsize=14")
            assert entry.status_code == 302
            assert entry.headers["location"] == "/?fontsize=14"  # the secret leaves the address bar
            cookie = entry.headers["set-cookie"]
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and TOKEN not in cookie

            page = browser.get(entry.headers["location"])
            assert page.status_code == 200
            # The page's websocket names the host the browser used, so the cookie goes with it.
            assert f'data-session-websocket-url="ws://127.0.0.1:{port}/ws"' in page.text
            assert browser.get("/static/js/textual.js").status_code == 200

            # Another site's page in the same browser carries the cookie, but not this origin.
            foreign = browser.get("/ws", headers={"Origin": "http://evil.example"})
            assert foreign.status_code == 403
            assert "only from its own page" in foreign.text


def test_by_default_it_serves_loopback_only_and_only_under_loopback_names(tmp_path: Path) -> None:
    with serving("serve", "--port", "0", "--json", env=serve_env(tmp_path), workdir=tmp_path) as served:
        assert served.ready == {
            "url": f"http://127.0.0.1:{served.ready['port']}/",
            "host": "127.0.0.1",
            "port": served.ready["port"],
            "read_only": True,
            "token_required": False,
        }
        assert httpx.get(f"{served.base}/").status_code == 200
        # A page on a rebinding DNS name reaches 127.0.0.1 with its own name as the Host: refused.
        rebound = httpx.get(f"{served.base}/", headers={"Host": f"evil.example:{served.ready['port']}"})
        assert rebound.status_code == 403
        assert "only on a loopback address" in rebound.text


async def test_a_session_whose_studio_cannot_start_is_closed_and_the_reason_logged(tmp_path: Path) -> None:
    env = serve_env(tmp_path)
    env.update(RUNSTUDIO_DATABASE_URL="postgresql://runstudio@127.0.0.1:1/nothing", TEMPORAL_ADDRESS="127.0.0.1:1")
    with serving("serve", "--port", "0", "--json", env=env, workdir=tmp_path) as served:
        async with (
            aiohttp.ClientSession() as client,
            client.ws_connect(f"{served.base}/ws?width=80&height=24", headers={"Origin": served.base}) as ws,
        ):
            # The page would otherwise stay blank for good; closed, it says "Session ended." and offers Restart.
            message = await ws.receive(timeout=60)
            while message.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                message = await ws.receive(timeout=60)
            assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), message
        # The studio's reason goes to serve's stderr; stdout holds only the one JSON document.
        assert "error: Postgres at 127.0.0.1:1 is unreachable" in served.errors.read_text()
        assert served.output.read_text().splitlines() == [json.dumps(served.ready)]
