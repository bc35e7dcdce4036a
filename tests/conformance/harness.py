"""Run the conformance corpus through the contract and through the JSONata reference (jsonata-js on node).

The corpus (``corpus.jsonl``) holds one case a line: ``{"id", "expr", "doc"?}``; ``doc`` names a
document in ``documents/`` (a context object with ``payload``, ``vars`` and ``meta``), and no ``doc``
means the empty context ``{}``. Both sides see the same input document and the same variables (each
context key bound as ``$key``, as the contract does) and the same fixed clock, so ``$now()`` and
``$millis()`` are comparable.

An outcome is ``{"value": v}`` (``undefined`` is shown as ``null``) or ``{"error": {"code", "message",
"position"}}``.
"""

import json
import os
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.expressions import EvalEnv, ExpressionError, evaluate

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent.parent
CORPUS = HERE / "corpus.jsonl"
DOCUMENTS = HERE / "documents"
RUNNER = HERE / "reference.mjs"
REFERENCE_VERSION = "2.2.2"
REFERENCE_PACKAGE = PROJECT / ".cache" / "jsonata-ref" / "node_modules" / "jsonata"

FIXED_NOW = datetime(2024, 5, 1, 12, 30, 45, 678000, tzinfo=UTC)
"""The clock both sides read: ``$now()``, ``$millis()`` and ``$nowIso()`` depend on nothing else."""
FIXED_MILLIS = 1714566645678

# The contract binds every context key as a variable, except keys named like functions.
_FUNCTION_LIKE = frozenset({"length", "error"})

Outcome = dict[str, Any]


@dataclass(frozen=True)
class Case:
    """One corpus line."""

    id: str
    expr: str
    doc: str | None

    @property
    def family(self) -> str:
        """The operator or function family, the id's prefix (``strings-012`` → ``strings``)."""
        return self.id.rsplit("-", 1)[0]


def load_corpus(path: Path = CORPUS) -> list[Case]:
    """Every case of the corpus, in file order."""
    cases = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            raw = json.loads(line)
            cases.append(Case(id=raw["id"], expr=raw["expr"], doc=raw.get("doc")))
    return cases


def load_documents() -> dict[str, dict[str, Any]]:
    """The input documents by name (file stem)."""
    return {path.stem: json.loads(path.read_text(encoding="utf-8")) for path in sorted(DOCUMENTS.glob("*.json"))}


def context_of(case: Case, documents: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """The context object (JSONata input) of ``case``."""
    return documents[case.doc] if case.doc is not None else {}


def bindings_of(context: Mapping[str, Any]) -> dict[str, Any]:
    """The variables the contract binds for ``context``; the reference gets the same."""
    return {key: value for key, value in context.items() if key not in _FUNCTION_LIKE}


def reference_outcomes(cases: Iterable[Case], documents: Mapping[str, dict[str, Any]]) -> dict[str, Outcome]:
    """Evaluate every case with jsonata-js in one node process; outcomes by case id."""
    if not (REFERENCE_PACKAGE / "package.json").exists():
        raise RuntimeError(f"the JSONata reference is not installed at {REFERENCE_PACKAGE}: run `make jsonata-ref`")
    lines = []
    for case in cases:
        context = context_of(case, documents)
        bindings = bindings_of(context)
        line = {"id": case.id, "expr": case.expr, "input": context, "bindings": bindings, "now": FIXED_MILLIS}
        lines.append(json.dumps(line, ensure_ascii=False))
    done = subprocess.run(
        ["node", str(RUNNER)],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        encoding="utf-8",
        # Date.parse reads a date-time without a zone in the host's zone; the contract reads UTC.
        env={**os.environ, "JSONATA_REF_PATH": str(REFERENCE_PACKAGE), "TZ": "UTC"},
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the reference runner failed ({done.returncode}): {done.stderr[-2000:]}")
    outcomes: dict[str, Outcome] = {}
    for text in done.stdout.splitlines():
        raw = json.loads(text)
        outcomes[raw.pop("id")] = raw if "error" in raw else {"value": raw.get("value")}
    return outcomes


def contract_env() -> EvalEnv:
    """The workflow's evaluation environment with the fixed clock and generous limits."""
    return EvalEnv(now=lambda: FIXED_NOW, random=None, timeout_ms=10_000)


def contract_outcome(case: Case, documents: Mapping[str, dict[str, Any]], env: EvalEnv) -> Outcome:
    """Evaluate ``case`` through the contract (:func:`engine.expressions.evaluate`)."""
    try:
        return {"value": evaluate(case.expr, context_of(case, documents), env, step_path=case.id)}
    except ExpressionError as exc:
        return {"error": {"code": exc.code, "message": exc.reason, "position": exc.position}}


def json_equivalent(left: Any, right: Any) -> bool:
    """JSON equality: numbers compare by value (``1 == 1.0``), booleans are not numbers, order matters in arrays."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(json_equivalent(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(json_equivalent(a, b) for a, b in zip(left, right, strict=True))
    return type(left) is type(right) and left == right


def agree(contract: Outcome, reference: Outcome) -> bool:
    """Whether two outcomes agree: equal values, or both errors with the same JSONata code.

    The contract's own ``RS`` codes never match a JSONata code; those cases belong in the list of
    deliberate differences.
    """
    if "error" in contract or "error" in reference:
        if not ("error" in contract and "error" in reference):
            return False
        return bool(contract["error"]["code"] == reference["error"]["code"])
    return json_equivalent(contract["value"], reference["value"])
