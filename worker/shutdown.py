"""Stopping the worker within its grace period, in every state.

The SDK's graceful shutdown waits for in-flight workflow activations, and an activation stays busy
while a local activity inside it retries (a projection Postgres keeps refusing) or while workflow code
burns CPU; a closing pool waits for connections those activities hold. So a graceful stop alone can
take forever. Exiting hard once a deadline passes is safe: Temporal holds every run's state, times the
abandoned workflow task and activity attempts out, and another worker resumes them.

Three layers, each for a state the one before cannot handle:

1. The first SIGTERM/SIGINT sets the ``stop`` event: the SDK drains (cancelling activities after its
   grace period), the consumer and reconciler end, the pool closes.
2. At grace + :data:`IN_PROCESS_MARGIN_S` a timer thread logs what is still in flight and calls
   ``os._exit``. A second stop signal does the same at once.
3. When native code holds the GIL (a long call into a C extension, e.g. a plugin's), neither of those
   runs. The watchdog process (:mod:`worker.watchdog`) learns of the signal from CPython's C-level
   wakeup fd and, at grace + :data:`WATCHDOG_MARGIN_S`, has :mod:`faulthandler` dump every thread's
   stack and SIGKILLs the worker.
"""

import contextlib
import faulthandler
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from temporalio import activity
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from worker import watchdog

log = logging.getLogger("runstudio.worker")

IN_PROCESS_MARGIN_S = 2.0
"""Seconds past the grace period before the worker exits by itself."""
WATCHDOG_MARGIN_S = 3.0
"""Seconds past the grace period before the watchdog kills a worker that could not exit by itself."""
FORCED_EXIT_CODE = 1
"""The exit status of a stop that had to abandon work (the graceful one exits 0)."""
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class InFlight(Interceptor):
    """Tracks this worker's activities (local ones included) to name them on a forced exit.

    Besides the attempts running now it remembers activities whose last attempt failed, until one
    succeeds: a local activity waiting out its retry backoff runs nothing, yet keeps its workflow task
    (and so the SDK's shutdown) busy.
    """

    MAX_FAILING = 100
    """Failing activities remembered; the oldest are dropped first."""

    def __init__(self) -> None:
        self._running: dict[int, str] = {}
        self._failing: dict[tuple[str, str, str], str] = {}
        self._lock = threading.Lock()

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        """Wrap activity execution with the tracking."""
        return _TrackActivities(next, self)

    def describe(self) -> list[str]:
        """One line per running activity and per activity retrying after a failed attempt."""
        with self._lock:
            running = sorted(f"running: {text}" for text in self._running.values())
            return running + sorted(f"retrying: {text}" for text in self._failing.values())

    def started(self, key: int, text: str) -> None:
        """Record a started attempt."""
        with self._lock:
            self._running[key] = text

    def ended(self, key: int, activity_key: tuple[str, str, str], failure: str | None) -> None:
        """Record how an attempt ended: ``failure`` is None when it succeeded."""
        with self._lock:
            text = self._running.pop(key, None)
            self._failing.pop(activity_key, None)
            if failure is not None and text is not None:
                self._failing[activity_key] = f"{text}: {failure}"
                while len(self._failing) > self.MAX_FAILING:
                    del self._failing[next(iter(self._failing))]


class _TrackActivities(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, tracker: InFlight) -> None:
        super().__init__(next)
        self._tracker = tracker

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        key = id(input)
        activity_key = (info.workflow_id or "", info.activity_id, info.activity_type)
        local = ", local" if info.is_local else ""
        self._tracker.started(
            key, f"{info.activity_type} of workflow {info.workflow_id} (attempt {info.attempt}{local})"
        )
        failure: str | None = None
        try:
            return await super().execute_activity(input)
        except BaseException as exc:
            failure = f"{type(exc).__name__}: {str(exc)[:200]}"
            raise
        finally:
            self._tracker.ended(key, activity_key, failure)


class ShutdownGuard:
    """Owns the process's stop signals for a worker: graceful first, bounded always.

    ``install`` must run on the main thread, inside the running event loop; ``request_stop`` is called
    (thread-safely, on the loop) for the first stop signal.
    """

    def __init__(self, grace_s: float, in_flight: InFlight, request_stop: Callable[[], None]) -> None:
        self.grace_s = grace_s
        self.in_flight = in_flight
        self._request_stop = request_stop
        self._signals = 0
        self._watchdog: subprocess.Popen[bytes] | None = None
        self._timer: threading.Timer | None = None
        self._previous_wakeup_fd = -1

    def install(self) -> None:
        """Start the watchdog, route the C-level wakeup fd to it and take over SIGTERM/SIGINT."""
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)
        try:
            self._watchdog = subprocess.Popen(
                [sys.executable, "-I", str(Path(watchdog.__file__)), str(os.getpid()), str(self.deadline_s())],
                stdin=read_fd,
                start_new_session=True,
            )
        finally:
            os.close(read_fd)
        # A full pipe must not warn: a dropped byte only means the watchdog already knows.
        self._previous_wakeup_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        if self._previous_wakeup_fd != -1:
            log.warning(
                "replaced another signal wakeup fd (%d); the stop watchdog owns it now", self._previous_wakeup_fd
            )
        faulthandler.register(watchdog.DUMP_SIGNAL, all_threads=True, chain=False)
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._on_signal)

    def deadline_s(self) -> float:
        """Seconds from the first stop signal to the watchdog's kill."""
        return self.grace_s + WATCHDOG_MARGIN_S

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._signals += 1
        name = signal.Signals(signum).name
        if self._signals > 1:
            self.exit_now(f"second stop signal ({name})")
            return
        log.info("%s: stopping; in-flight work gets %g s, then the worker exits regardless", name, self.grace_s)
        self._timer = threading.Timer(self.grace_s + IN_PROCESS_MARGIN_S, self.exit_now, args=("grace period over",))
        self._timer.daemon = True
        self._timer.start()
        self._request_stop()

    def exit_now(self, reason: str) -> None:
        """Log what is still running, flush the logs and end the process (Temporal keeps the state)."""
        in_flight = self.in_flight.describe()
        log.warning(
            "exiting now (%s) with %d activit%s still in flight%s; Temporal keeps their runs and another "
            "worker resumes them",
            reason,
            len(in_flight),
            "y" if len(in_flight) == 1 else "ies",
            "".join(f"\n  {line}" for line in in_flight),
        )
        flush_and_exit(FORCED_EXIT_CODE)

    def close(self) -> None:
        """Stand the watchdog down if no stop was asked for (the worker ended by itself, e.g. a fatal error).

        After a stop signal the timer and the watchdog stay armed: they also bound what remains of the
        process's exit.
        """
        if self._signals == 0 and self._watchdog is not None and self._watchdog.poll() is None:
            self._watchdog.kill()
            self._watchdog.wait()


def flush_and_exit(code: int) -> None:
    """Flush every log handler and the standard streams, then ``os._exit``: no atexit hooks, no thread joins.

    Interpreter shutdown would join the SDK's workflow threads (one may be stuck) and can crash in the SDK's
    native finaliser (temporalio/sdk-python#300).
    """
    # Exiting anyway: a broken handler or a closed stream must not stop the exit.
    for handler in logging.getLogger().handlers:
        with contextlib.suppress(Exception):
            handler.flush()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)
