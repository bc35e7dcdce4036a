"""Canonical JSON and the definition hash (sha256 of it) that pins the version a run executes."""

import hashlib
import json
from typing import Any


def canonical_json(obj: Any) -> str:
    """``obj`` as JSON with sorted keys, no whitespace and non-ASCII kept as is (hash it as UTF-8).

    ``1`` and ``1.0`` stay different, as do key spellings: the hash is of the JSON as written.
    Raise ``ValueError`` for NaN or infinity and ``TypeError`` for anything that is not JSON.
    """
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def definition_hash(definition_json: dict[str, Any]) -> str:
    """The sha256 hex digest of the definition's canonical JSON, encoded as UTF-8."""
    return hashlib.sha256(canonical_json(definition_json).encode("utf-8")).hexdigest()
