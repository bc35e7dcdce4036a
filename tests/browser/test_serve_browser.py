"""The studio in a real browser: ``runstudio serve`` on a real stack, driven by Debian's chromium.

The served page paints the terminal with xterm.js on a WebGL/canvas layer, so the DOM holds no text. The
test reads the screen through xterm's own buffer API (what the page paints), presses keys into the page
like a person, and keeps screenshots of both screens.
"""

import asyncio
import os
import secrets
import shutil
import time
from pathlib import Path

import psutil
import pytest
from playwright.async_api import Page, async_playwright

from engine.services.context import ServiceContext
from engine.services.launch import launch_run
from tests.browser.served import Served, serving
from tests.conftest import cli_env
from tests.helpers import publish_examples, wait_for_run

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
"""Debian's chromium (``make test`` installs it when missing), not a browser playwright downloads."""

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # The machines are offline but for registries: no update, sync or field-trial calls to wait on.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

TERMINAL_HOOK = """
(() => {
  // textual-serve's bundle keeps its xterm.js Terminal in a closure; its page object does
  // `this.terminal = new Terminal(...)`. An inherited setter catches that assignment, makes the property
  // an ordinary one again, and keeps the terminal where the test can read its buffer.
  Object.defineProperty(Object.prototype, "terminal", {
    configurable: true,
    set(value) {
      Object.defineProperty(this, "terminal", {value, writable: true, configurable: true, enumerable: true});
      if (value && value.buffer && value.buffer.active) { window.__studioTerminal = value; }
    },
  });
})();
"""
"""Installed before the page's scripts run."""

SCREEN_TEXT = """
() => {
  const term = window.__studioTerminal;
  if (!term) { return null; }
  const buffer = term.buffer.active;
  const rows = [];
  for (let y = 0; y < term.rows; y++) {
    const line = buffer.getLine(buffer.viewportY + y);
    rows.push(line ? line.translateToString(true) : "");
  }
  return rows.join("\\n");
}
"""
"""The visible rows of the page's terminal, as text."""


async def screen_text(page: Page) -> str | None:
    """What the served terminal shows now; None before the page made its terminal."""
    text: str | None = await page.evaluate(SCREEN_TEXT)
    return text


def record_page_events(page: Page) -> list[str]:
    """A log of what went wrong in the page (errors, failed requests, the websocket closing), for failures."""
    events: list[str] = []
    page.on("console", lambda message: events.append(f"console {message.type}: {message.text}"))
    page.on("pageerror", lambda error: events.append(f"page error: {error}"))
    page.on("requestfailed", lambda request: events.append(f"request failed: {request.url} {request.failure}"))
    page.on("websocket", lambda ws: ws.on("close", lambda _: events.append(f"websocket closed: {ws.url}")))
    return events


async def wait_for_screen(page: Page, *needles: str, events: list[str], served: Served, timeout: float = 45.0) -> str:
    """Poll the page's terminal until every needle is on screen; fail showing the last screen and the page's log."""
    deadline = time.monotonic() + timeout
    text = await screen_text(page)
    while text is None or not all(needle in text for needle in needles):
        if time.monotonic() > deadline:
            log = "\n".join(events) or "(nothing)"
            raise AssertionError(
                f"never saw {needles} in the browser; the screen was:\n{text}\npage log:\n{log}\n{served.logs()}"
            )
        await asyncio.sleep(0.2)
        text = await screen_text(page)
    return text


async def painted(page: Page) -> None:
    """Wait two animation frames: xterm paints its canvas on the frame after its buffer changed."""
    await page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")


def is_studio(process: psutil.Process) -> bool:
    """True for a ``runstudio … tui`` process (what textual-serve starts per session)."""
    try:
        return "tui" in process.cmdline()
    except psutil.NoSuchProcess:
        return False


def keep(shot: Path) -> Path:
    """Copy a screenshot to ``$RUNSTUDIO_SERVE_SHOTS`` when set (for a person to look at), and return it."""
    target = os.environ.get("RUNSTUDIO_SERVE_SHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(target) / shot.name)
    return shot


async def test_a_browser_sees_the_runs_list_opens_a_run_and_sees_its_timeline(
    services: ServiceContext, tmp_path: Path
) -> None:
    await publish_examples(services, "echo_chain")
    run_id = await launch_run(services, workflow_id="echo-chain", payload={"ticket": {"id": 41}})
    assert (await wait_for_run(services, run_id)).status == "SUCCEEDED"
    token = secrets.token_urlsafe(24)
    env = cli_env(
        RUNSTUDIO_DATABASE_URL=services.endpoints.database_url,
        TEMPORAL_ADDRESS=services.endpoints.temporal_address,
        TEMPORAL_NAMESPACE="default",
        RUNSTUDIO_HOME=str(tmp_path / "home"),
        # From the environment, as the help recommends: the page, its scripts and its websocket need it.
        RUNSTUDIO_SERVE_TOKEN=token,
    )
    shots = tmp_path / "shots"
    shots.mkdir()

    args = ("--tenant", services.tenant, "serve", "--port", "0", "--json")
    with serving(*args, env=env, workdir=tmp_path) as served:
        port = served.ready["port"]
        assert served.ready["url"] == f"http://127.0.0.1:{port}/?token={token}"
        assert served.ready["read_only"] is True and served.ready["token_required"] is True
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page(viewport={"width": 1280, "height": 720})
                await page.add_init_script(TERMINAL_HOOK)
                events = record_page_events(page)
                await page.goto(served.ready["url"])
                assert page.url == f"http://127.0.0.1:{port}/", "the token must leave the address bar"

                # The health header and the footer too: the screenshot should show the settled screen.
                runs = await wait_for_screen(
                    page, run_id[:8], "echo-chain@1", "SUCCEEDED", "✓ database", "q Quit", events=events, served=served
                )
                assert "READ-ONLY" in runs and services.tenant in runs
                await painted(page)
                await page.screenshot(path=shots / "serve-runs-list.png")
                keep(shots / "serve-runs-list.png")

                await page.locator("#terminal").click()
                await page.keyboard.press("Enter")
                timeline = await wait_for_screen(
                    page, f"run {run_id}", "greet", "control.return", events=events, served=served
                )
                steps = [line.split()[1] for line in timeline.splitlines() if line.strip().startswith("✓ ")]
                assert steps[-4:] == ["greet", "count", "log", "done"], timeline
                # Read-only reached the served studio: the run screen offers no replay or cancel.
                assert "Replay" not in timeline and "Cancel run" not in timeline
                await painted(page)
                await page.screenshot(path=shots / "serve-run-timeline.png")
                keep(shots / "serve-run-timeline.png")

                # Stopping serve with a session open ends that session's studio too, and tells the page.
                studios = [p for p in psutil.Process(served.process.pid).children(recursive=True) if is_studio(p)]
                assert len(studios) == 1, studios
                # In threads: this event loop also runs the session's worker and playwright's connection.
                assert await asyncio.to_thread(served.stop) == 0, served.logs()
                _, alive = await asyncio.to_thread(psutil.wait_procs, studios, timeout=20)
                assert alive == []
                await page.locator("body.-closed").wait_for(timeout=20_000)
                assert await page.locator(".closed-dialog .message").inner_text() == "Session ended."
            finally:
                await browser.close()
