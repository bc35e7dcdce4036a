"""Failures inside the interpreter: business errors a tryCatch may handle, and corruption it may not."""

from typing import Any


def error_info(
    category: str, message: str, step_path: str, step_id: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The error object recorded on steps and runs and given to ``captureErrorAs``."""
    info: dict[str, Any] = {"category": category, "message": message, "stepPath": step_path, "stepId": step_id}
    if details:
        info["details"] = details
    return info


class BusinessError(Exception):
    """A failure of the workflow's own logic (action, expression, timeout, child): catchable."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error["message"])
        self.error = error

    @classmethod
    def of(cls, category: str, message: str, step_path: str, step_id: str) -> "BusinessError":
        """Build one from its parts."""
        return cls(error_info(category, message, step_path, step_id))


class InterpreterCorruption(Exception):
    """The state and the definition disagree. Never caught by a tryCatch; the run fails."""
