"""Error types shared across the engine; each carries a message an operator can act on."""


class RunStudioError(Exception):
    """Base class for errors that are reported to the user as a message, not a traceback."""


class ConfigurationError(RunStudioError):
    """The environment or the services are not set up as needed."""


class ServiceUnavailableError(RunStudioError):
    """Postgres or Temporal could not be reached."""
