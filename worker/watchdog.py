"""The worker's last-resort stop: a tiny separate process that kills the worker if a stop signal is ignored.

A CPU-bound native call (a C extension that never releases the GIL, such as a backtracking ``re`` match)
holds the GIL for as long as it runs, so no Python code of the worker runs either: not its signal handler, not a
timer thread. Only the C-level part of CPython's signal handling still works, and it writes each caught
signal's number to the fd given to :func:`signal.set_wakeup_fd`. This process reads that pipe: from the
first SIGTERM/SIGINT it allows ``deadline`` seconds (one more stop signal cuts that to a second), then
asks the worker for a stack dump (``SIGUSR2``, which :mod:`faulthandler` answers without the GIL) and
SIGKILLs it. The pipe closing means the worker is gone, and this process ends with it.

It imports only the standard library and runs in its own session (a ``kill`` of the worker's process
group must not stop it) with ``python -I``, so it starts in milliseconds and depends on nothing.
"""

import os
import select
import signal
import sys
import time

STOP_SIGNALS = frozenset({int(signal.SIGTERM), int(signal.SIGINT)})
DUMP_SIGNAL = signal.SIGUSR2
"""The signal the worker registers with :mod:`faulthandler` to dump every thread's stack."""
SECOND_SIGNAL_SLACK_S = 1.0
"""After a second stop signal the worker exits by itself at once; this is how long it gets to do so."""
DUMP_WAIT_S = 0.5


def watch(pipe_fd: int, pid: int, deadline_s: float) -> str:
    """Watch ``pipe_fd`` for stop signals of ``pid``; return why the watch ended (``gone`` or ``killed``)."""
    deadline: float | None = None
    stops = 0
    while True:
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        ready, _, _ = select.select([pipe_fd], [], [], timeout)
        if ready:
            data = os.read(pipe_fd, 256)
            if not data:
                return "gone"
            received = sum(1 for byte in data if byte in STOP_SIGNALS)
            if received:
                stops += received
                now = time.monotonic()
                deadline = now + deadline_s if deadline is None else deadline
                if stops >= 2:
                    deadline = min(deadline, now + SECOND_SIGNAL_SLACK_S)
        if deadline is not None and time.monotonic() >= deadline:
            _kill(pid, pipe_fd, stops, deadline_s)
            return "killed"


def _kill(pid: int, pipe_fd: int, stops: int, deadline_s: float) -> None:
    why = "a second stop signal" if stops >= 2 else f"{deadline_s:g} s after SIGTERM/SIGINT"
    sys.stderr.write(
        f"runstudio worker watchdog: worker pid {pid} is still running {why}; its interpreter is blocked "
        "(a long native call). Dumping its threads, then killing it; "
        "Temporal keeps its runs and another worker resumes them.\n"
    )
    sys.stderr.flush()
    try:
        os.kill(pid, DUMP_SIGNAL)
        # Wait for the dump, or for the worker to exit on its own meanwhile (the pipe then closes).
        if select.select([pipe_fd], [], [], DUMP_WAIT_S)[0] and not os.read(pipe_fd, 256):
            return
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return


def main(argv: list[str]) -> int:
    """``watchdog.py PID DEADLINE_S``, reading the worker's wakeup pipe on stdin."""
    pid, deadline_s = int(argv[1]), float(argv[2])
    # Own session already; ignoring stop signals too keeps a stray terminal signal from ending the watch.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    watch(sys.stdin.fileno(), pid, deadline_s)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
