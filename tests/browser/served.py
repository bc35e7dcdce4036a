"""Starting ``runstudio serve`` as its real process for the browser tests, and stopping it."""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENTRY = (
    "from runstudio.cli import app, main\n"
    "from runstudio.commands import serve\n"
    # Registered by runstudio.commands.register_all once wired; until then the tests mount it themselves.
    "if not any(c.name == 'serve' for c in app.registered_commands): serve.register(app)\n"
    "main()\n"
)
"""The CLI's real entry point, with ``serve`` mounted."""


@dataclass(frozen=True)
class Served:
    """A running ``runstudio serve``: the document its ``--json`` printed, and its output file."""

    ready: dict[str, Any]
    output: Path
    errors: Path
    process: subprocess.Popen[bytes]

    def stop(self) -> int:
        """Stop it as Ctrl-C would (SIGTERM), and return its exit code."""
        return _stop(self.process)

    def logs(self) -> str:
        """What the serve process printed so far (its sessions' stderr lands in its stderr)."""
        return f"stdout:\n{self.output.read_text()}\nstderr:\n{self.errors.read_text()}"

    @property
    def base(self) -> str:
        """``http://127.0.0.1:PORT`` — where this machine reaches it whatever the bind address."""
        return f"http://127.0.0.1:{self.ready['port']}"


def serve_argv(*args: str) -> list[str]:
    """The argv of ``runstudio ARGS…`` through the entry point above."""
    return [sys.executable, "-c", ENTRY, *args]


@contextmanager
def serving(*args: str, env: dict[str, str], workdir: Path, timeout: float = 30.0) -> Iterator[Served]:
    """Run ``runstudio ARGS… serve --port 0 --json …`` until the block ends; yield once it printed its URL."""
    output = workdir / "serve.out"
    errors = workdir / "serve.err"
    with output.open("w") as out, errors.open("w") as err:
        # Files, not pipes: each session's studio writes its stderr through serve's, and nobody drains a pipe.
        process = subprocess.Popen(serve_argv(*args), env=env, stdout=out, stderr=err, start_new_session=True)
    try:
        ready = _first_line(process, output, errors, timeout)
        yield Served(ready=ready, output=output, errors=errors, process=process)
    finally:
        _stop(process)


def _first_line(process: subprocess.Popen[bytes], output: Path, errors: Path, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = output.read_text()
        if "\n" in text:
            document: dict[str, Any] = json.loads(text.splitlines()[0])
            return document
        if process.poll() is not None:
            raise AssertionError(f"serve exited {process.returncode}: {errors.read_text()}")
        time.sleep(0.05)
    raise AssertionError(f"serve printed no URL in {timeout}s: {errors.read_text()}")


def _stop(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # its own session: the studios it started go too
            process.wait()
            raise AssertionError("serve did not stop within 20 s of SIGTERM") from None
    return process.returncode
