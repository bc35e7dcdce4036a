"""The error an action raises, its categories, and the error raised when a plugin cannot be loaded.

Actions only classify failures; whether a category is retried is the interpreter's decision (an
``action.call`` step's ``retry.retryOn``; omitted, every category but ``ValidationError`` is retried).
"""

from enum import StrEnum
from typing import Any

from engine.errors import ConfigurationError


class ErrorCategory(StrEnum):
    """The categories built-in actions and :func:`engine.actions.base.invoke` raise.

    The values are what authors write in ``retry.retryOn`` and what ``captureErrorAs`` shows.
    """

    VALIDATION = "ValidationError"
    """Bad input; retrying cannot help, so it is never retried by default."""
    ACTION = "ActionError"
    """A generic business failure."""
    TIMEOUT = "TimeoutError"
    """The action ran out of time (e.g. an HTTP timeout)."""
    NETWORK = "NetworkError"
    """A connection could not be made or broke off."""
    HTTP = "HttpError"
    """An HTTP call answered with a status outside 2xx."""
    NOT_ALLOWED = "NotAllowed"
    """The action was asked to do something the deployment does not permit (e.g. an unlisted host)."""
    INTERNAL = "Internal"
    """A bug or a broken environment: an unexpected exception inside the action."""


class ActionError(Exception):
    """A classified action failure: ``category`` drives retries, ``message`` is shown to people.

    ``category`` is usually an :class:`ErrorCategory`, but any non-empty string is accepted so that
    plugins (and ``core.fail`` drills) can use their own categories.
    """

    def __init__(self, category: str, message: str, details: dict[str, Any] | None = None) -> None:
        # Passing every field to Exception keeps the error picklable (args round-trip to __init__).
        super().__init__(category, message, details)
        self.category = str(category)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return f"{self.category}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        """Return ``{"category", "message", "details"}`` for an activity result or ``error_json``."""
        return {"category": self.category, "message": self.message, "details": self.details}


class PluginLoadError(ConfigurationError):
    """An action plugin entry point could not be loaded or did not provide valid action specs."""
