"""Error types shared across the engine; each carries a message an operator can act on."""

DOCTOR_HINT = "Run `runstudio doctor` to see what is down."
"""The fix every "service unreachable" message ends with."""


class RunStudioError(Exception):
    """Base class for errors that are reported to the user as a message, not a traceback."""


class ConfigurationError(RunStudioError):
    """The environment or the services are not set up as needed."""


class ServiceUnavailableError(RunStudioError):
    """Postgres or Temporal could not be reached.

    The subclasses name the component and its address; this base still takes a plain message for callers
    that only know that "a service" failed.
    """

    component: str = "a service"
    address: str = ""
    reason: str = ""

    @property
    def summary(self) -> str:
        """The message without the ``runstudio doctor`` hint (for ``doctor`` itself, which is that fix)."""
        return str(self)


class _NamedServiceUnavailable(ServiceUnavailableError):
    """One line: ``<component> at <address> is unreachable: <reason>. Run `runstudio doctor` …``."""

    def __init__(self, address: str, reason: str) -> None:
        self.address = address
        self.reason = _one_line(reason) or "no answer"
        super().__init__(f"{self.summary}. {DOCTOR_HINT}")

    @property
    def summary(self) -> str:
        """Component, address and reason, without the hint."""
        return f"{self.component} at {self.address} is unreachable: {self.reason}"


class PostgresUnavailable(_NamedServiceUnavailable):
    """Postgres did not accept a connection, or dropped one mid-query."""

    component = "Postgres"


class TemporalUnavailable(_NamedServiceUnavailable):
    """The Temporal frontend did not answer (connect or RPC)."""

    component = "Temporal"


def _one_line(text: str) -> str:
    # Reasons come from drivers and log tails; the sentence must stay one line and must not end in a
    # full stop of its own, since the message adds one.
    return " ".join(text.split()).rstrip(".")
