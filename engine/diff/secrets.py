"""Which secrets an edited replay payload replaced: the paths (never the values) a later diff needs.

A diff sees both runs redacted, so it cannot tell two secrets apart by looking. The replay is the one
moment that holds both the original input and the operator's edit: it records here which secret locations
the edit overwrote, and the diff reads that record instead of decrypting anything.
"""

from collections.abc import Iterable
from typing import Any

from engine.diff.json_paths import Location, format_path
from engine.redaction import PLACEHOLDER, redacted_paths

_MISSING = object()


def replaced_secret_paths(edited: Any, original: Any, redact: Iterable[str]) -> list[str]:
    """``$``-paths of the original's secrets that ``edited`` overwrote with something other than the placeholder.

    A placeholder left in place keeps its secret (the replay restores it); a location the edit removed is
    not listed (a diff shows it as removed anyway).
    """
    replaced = []
    for location in redacted_paths(original, redact):
        value = _at(edited, location)
        if value is not _MISSING and value != PLACEHOLDER:
            replaced.append(format_path(location))
    return sorted(replaced)


def _at(value: Any, location: Location) -> Any:
    for part in location:
        in_list = isinstance(part, int) and isinstance(value, list) and 0 <= part < len(value)
        in_object = isinstance(part, str) and isinstance(value, dict) and part in value
        if not (in_list or in_object):
            return _MISSING
        value = value[part]
    return value
