"""The embedded stack serves Temporal's Web UI on loopback and registers the run search attributes."""

import asyncio
import json
import shlex
import urllib.error
import urllib.request
from pathlib import Path

from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client

from engine import devstack
from engine.temporal.ui import run_page_url
from engine.temporal.visibility import SEARCH_ATTRIBUTES
from tests.helpers import wait_until
from tests.integration.test_devstack import home, run_cli  # noqa: F401  (``home`` is a fixture)


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


async def answers_200(url: str) -> None:
    """The UI comes up alongside the frontend, possibly a moment later; poll until it answers."""

    async def ok() -> bool:
        return await asyncio.to_thread(http_status, url) == 200

    await wait_until(ok, timeout=20, what=f"HTTP 200 from {url}")


async def registered(address: str) -> dict[str, int]:
    client = await Client.connect(address, namespace="default")
    listed = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace="default"))
    return {name: listed.custom_attributes[name] for name in listed.custom_attributes if name.startswith("RunStudio")}


EXPECTED = {key.name: key.indexed_value_type.value for key in SEARCH_ATTRIBUTES}


async def test_print_env_names_the_web_ui_which_answers_and_keeps_its_port_across_restarts(home: Path) -> None:  # noqa: F811
    started = await asyncio.to_thread(run_cli, home, "services", "start", "--print-env")
    assert started.returncode == 0, started.stderr
    values = dict(shlex.split(line)[1].split("=", 1) for line in started.stdout.splitlines())
    ui_url = values["TEMPORAL_UI_URL"]
    assert ui_url.startswith("http://127.0.0.1:")
    ui_port = int(ui_url.rsplit(":", 1)[1])
    assert ui_port != int(values["TEMPORAL_ADDRESS"].rsplit(":", 1)[1])

    await answers_200(ui_url)
    # The page `show` and the studio link to: the UI serves the route (it then redirects to the latest run).
    await answers_200(run_page_url(ui_url, "default", "2b12c4c2-dae2-482c-8ca1-356316bd0f6b") or "")
    assert await registered(values["TEMPORAL_ADDRESS"]) == EXPECTED

    status = await asyncio.to_thread(run_cli, home, "services", "status", "--json")
    assert status.returncode == 0, status.stderr
    temporal = json.loads(status.stdout)["services"][1]
    assert (temporal["name"], temporal["ui_url"]) == ("temporal", ui_url)
    assert json.loads(status.stdout)["services"][0]["ui_url"] is None
    text = await asyncio.to_thread(run_cli, home, "services", "status")
    assert text.stdout.splitlines()[1].endswith(f"web UI {ui_url}")

    # Restarted on its existing SQLite file: same UI port, the attributes are registered again without error.
    await asyncio.to_thread(devstack.stop, home)
    assert devstack.status(home).temporal.ui_url is None
    again = await asyncio.to_thread(devstack.start, home, postgres=False)
    assert again.temporal_ui_url == ui_url
    assert devstack.status(home).temporal.ui_url == ui_url
    await answers_200(ui_url)
    assert await registered(again.temporal_address) == EXPECTED


async def test_a_headless_server_from_before_the_web_ui_is_replaced(home: Path) -> None:  # noqa: F811
    first = await asyncio.to_thread(devstack.start, home, postgres=False)
    state = json.loads((home / "temporal.json").read_text())
    # What a server started by the previous release left behind: no UI port recorded.
    (home / "temporal.json").write_text(json.dumps({"pid": state["pid"], "port": state["port"]}))
    again = await asyncio.to_thread(devstack.start, home, postgres=False)
    assert again.temporal_address == first.temporal_address
    assert again.temporal_ui_url.startswith("http://127.0.0.1:")
    assert devstack.status(home).temporal.pid != state["pid"]
    await answers_200(again.temporal_ui_url)
