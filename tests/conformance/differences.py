"""The deliberate differences between the contract and the JSONata reference, each with its reason.

The differential test (``test_reference.py``) accepts a disagreement only when exactly one entry here
explains it, and fails on an entry that explains no case of the corpus (so none goes stale). Each entry
is a predicate over the case and both outcomes; outcomes are ``{"value": v}`` or ``{"error": {"code",
"message", "position"}}``, and a reference value that JSON cannot hold is written ``{"$nonfinite": "NaN"}``
or ``{"$function": true}`` by ``reference.mjs``.

Applied by the comparison itself rather than listed as disagreements:

* **undefined is shown as null.** The contract's result is JSON, so a top-level *undefined* (no match)
  is ``null``; the reference's runner writes no value and the comparison reads that as ``null``.
* **positions are not compared.** Both sides report a character position for most errors, but the
  library's parser counts some of them differently; the code is what the contract promises.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tests.conformance.harness import Case, Outcome


@dataclass(frozen=True)
class Difference:
    """One deliberate difference: why, and which (case, contract outcome, reference outcome) it covers."""

    reason: str
    applies: Callable[[Case, Outcome, Outcome], bool]


def _code(outcome: Outcome) -> str | None:
    error = outcome.get("error")
    return error.get("code") if isinstance(error, dict) else None


def _contains(value: Any, key: str) -> bool:
    if isinstance(value, dict):
        return key in value or any(_contains(item, key) for item in value.values())
    if isinstance(value, list):
        return any(_contains(item, key) for item in value)
    return False


def _has_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return any(0xD800 <= ord(char) <= 0xDFFF for char in value)
    if isinstance(value, list):
        return any(_has_lone_surrogate(item) for item in value)
    return False


DIFFERENCES: Mapping[str, Difference] = {
    "not-a-finite-number": Difference(
        reason=(
            "The reference yields Infinity or NaN (1/0, 0/0, 3 % 0, $toMillis of a month 13), which JSON "
            "cannot hold and later steps could not store; the contract fails at the operation with D1001 "
            "(arithmetic) or D3110 (a timestamp Date.parse cannot read)."
        ),
        applies=lambda case, contract, reference: (
            _contains(reference.get("value"), "$nonfinite") and _code(contract) in ("D1001", "D3110")
        ),
    ),
    "forbidden-function": Difference(
        reason=(
            "$eval, $random and $shuffle are refused (RS1002): $eval runs text publish cannot check, the "
            "others are not deterministic, so a replayed workflow could take another path."
        ),
        applies=lambda case, contract, reference: _code(contract) == "RS1002",
    ),
    "function-as-result": Difference(
        reason=(
            "A function or regex as the whole result is not JSON: the contract refuses it (RS1003); the "
            "reference returns the function object, which its JSON serialisation drops or cannot write."
        ),
        applies=lambda case, contract, reference: (
            _code(contract) == "RS1003"
            and (_contains(reference.get("value"), "$function") or (_code(reference) is None and "error" in reference))
        ),
    ),
    "base64-above-latin1": Difference(
        reason=(
            "$base64encode encodes one byte per character (Latin-1) as the reference does; a character "
            "above U+00FF has no byte, and the reference silently keeps its low byte (wrong data), so the "
            "contract refuses it (RS1102), as browsers' btoa does."
        ),
        applies=lambda case, contract, reference: _code(contract) == "RS1102",
    ),
    "invalid-timezone": Difference(
        reason=(
            "$fromMillis with a timezone that is not ±HHMM: the reference prints 'NaN' into the text "
            "('0NaN-NaN-NaN'); the contract fails with D3132 instead of returning a garbled date."
        ),
        applies=lambda case, contract, reference: (
            _code(contract) == "D3132" and "NaN" in str(reference.get("value", ""))
        ),
    ),
    "range-and-size-limits": Difference(
        reason=(
            "Guardrails (engine.expression_guards): ranges and built arrays stop at a documented element "
            "limit (D2014, RS2002) and built strings at a length limit (RS2002), so one expression cannot "
            "exhaust a worker's memory or time; the reference has no such limits."
        ),
        applies=lambda case, contract, reference: _code(contract) in ("D2014", "RS2002") and "value" in reference,
    ),
    "regex-on-re2": Difference(
        reason=(
            "Regular expressions run on RE2 in linear time, so backreferences and lookaround are refused "
            "when the expression compiles (RS2001), which publish reports; the reference backtracks and can "
            "take exponential time."
        ),
        applies=lambda case, contract, reference: _code(contract) == "RS2001",
    ),
    "split-into-code-points": Difference(
        reason=(
            "$split(s, '') splits into characters (code points); the reference splits into UTF-16 code "
            "units, which cuts an emoji into two lone surrogates that are not text (Postgres and UTF-8 "
            "cannot store them)."
        ),
        applies=lambda case, contract, reference: (
            _has_lone_surrogate(reference.get("value")) and not _has_lone_surrogate(contract.get("value"))
        ),
    ),
}
"""Every deliberate difference, by name."""
