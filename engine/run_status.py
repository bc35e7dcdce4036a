"""A run's status, as the workflow reports it and the read-model stores it.

Its own module so that the CLI and the studio can name the statuses without importing the workflow
contracts (``engine.temporal.contracts`` builds a score of pydantic models and the interpreter's state when
imported); the contracts import it from here.
"""

from typing import Final, Literal, get_args

RunStatus = Literal["RUNNING", "WAITING", "SUCCEEDED", "FAILED", "CANCELED"]

RUN_STATUSES: Final[tuple[str, ...]] = get_args(RunStatus)
"""Every status, in the order above."""
