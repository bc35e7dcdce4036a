"""The contract agrees with the JSONata reference (jsonata-js on node) on the whole corpus.

Every case of ``corpus.jsonl`` is evaluated through :func:`engine.expressions.evaluate` (the workflow's
function set, fixed clock) and through the reference in one node process; the outcomes must agree —
equal JSON values (``1 == 1.0``), or both errors with the same JSONata code — except where exactly one
deliberate difference (``differences.py``) explains the disagreement.
"""

import json
import re
import subprocess
from collections import Counter
from typing import Any

import pytest

from tests.conformance.differences import DIFFERENCES
from tests.conformance.harness import (
    PROJECT,
    REFERENCE_PACKAGE,
    REFERENCE_VERSION,
    Case,
    Outcome,
    agree,
    contract_env,
    contract_outcome,
    load_corpus,
    load_documents,
    reference_outcomes,
)

# Families the corpus must cover, one per operator or function family of SPEC §5.
REQUIRED_FAMILIES = frozenset(
    {"paths", "arithmetic", "comparison", "boolean", "conditional", "strings", "numbers", "aggregation",
     "arrays", "higher-order", "sort", "grouping", "objects", "regex", "base64", "dates", "errors", "misc"}
)  # fmt: skip

# The divergences issue 10 lists, each pinned to the value the reference computes.
LISTED_DIVERGENCES: dict[str, Any] = {
    "7.5 % 2": 1.5,
    "payload.order.tags[-1] ?: 'none'": "eu",
    "-1 ?: 2": -1,
    "$string(5890840712243076)": "5890840712243076",
    '$string({"a":"é"})': '{"a":"é"}',
    "$count(payload.xs[$ = null])": 2,
    "$map(payload.xs, function($x){$x})": [1, None, 2, None, 3],
    "payload.xs{$string($): $count($)}": {"1": 1, "2": 1, "3": 1, "null": 2},
    "$number('0b101')": 5,
    "$lowercase('ΟΔΟΣ')": "οδος",
    "$base64encode('café')": "Y2Fm6Q==",
}


@pytest.fixture(scope="module")
def documents() -> dict[str, dict[str, Any]]:
    return load_documents()


@pytest.fixture(scope="module")
def corpus() -> list[Case]:
    return load_corpus()


@pytest.fixture(scope="module")
def reference(corpus: list[Case], documents: dict[str, dict[str, Any]]) -> dict[str, Outcome]:
    # `make test` installs the reference first; this makes a targeted pytest run work the same way.
    subprocess.run(["make", "--no-print-directory", "-s", "jsonata-ref"], cwd=PROJECT, check=True)
    installed = json.loads((REFERENCE_PACKAGE / "package.json").read_text(encoding="utf-8"))
    assert installed["version"] == REFERENCE_VERSION
    return reference_outcomes(corpus, documents)


@pytest.fixture(scope="module")
def contract(corpus: list[Case], documents: dict[str, dict[str, Any]]) -> dict[str, Outcome]:
    env = contract_env()
    return {case.id: contract_outcome(case, documents, env) for case in corpus}


def test_the_corpus_is_large_and_covers_every_family(corpus: list[Case]) -> None:
    families = Counter(case.family for case in corpus)
    assert len(corpus) >= 500
    assert len({case.id for case in corpus}) == len(corpus)
    assert families.keys() >= REQUIRED_FAMILIES
    assert all(families[family] >= 15 for family in REQUIRED_FAMILIES), families


def test_the_contract_agrees_with_the_reference(
    corpus: list[Case], contract: dict[str, Outcome], reference: dict[str, Outcome]
) -> None:
    assert reference.keys() == contract.keys()
    tally: Counter[str] = Counter()
    unexplained: list[str] = []
    for case in corpus:
        ours, theirs = contract[case.id], reference[case.id]
        if agree(ours, theirs):
            tally["agree: both errors" if "error" in ours else "agree: equal values"] += 1
            continue
        reasons = [name for name, difference in DIFFERENCES.items() if difference.applies(case, ours, theirs)]
        if len(reasons) == 1:
            tally[f"deliberate: {reasons[0]}"] += 1
        else:
            unexplained.append(
                f"{case.id} {case.expr!r}\n  contract:  {json.dumps(ours)}\n  reference: {json.dumps(theirs)}"
                + (f"\n  explained by several differences: {reasons}" if reasons else "")
            )
    print(f"\nconformance corpus: {len(corpus)} cases")
    for label, count in sorted(tally.items()):
        print(f"  {label}: {count}")
    print(f"  unexplained: {len(unexplained)}")
    assert not unexplained, "\n".join(unexplained)
    unused = [name for name in DIFFERENCES if f"deliberate: {name}" not in tally]
    assert not unused, f"differences that explain no case (remove them or add their case): {unused}"
    # Agreement is the rule: deliberate differences stay a short list of cases.
    assert sum(count for label, count in tally.items() if label.startswith("deliberate")) <= 30


def test_errors_carry_a_code_and_never_python_text(
    corpus: list[Case], contract: dict[str, Outcome], reference: dict[str, Outcome]
) -> None:
    errors = [case for case in corpus if "error" in contract[case.id]]
    both = [case for case in errors if "error" in reference[case.id] and agree(contract[case.id], reference[case.id])]
    assert len(both) >= 60
    python_text = re.compile(r"\b[A-Z][a-zA-Z]*(Error|Exception)\b|Traceback|could not convert|invalid literal")
    for case in errors:
        error = contract[case.id]["error"]
        assert isinstance(error["code"], str) and re.fullmatch(r"[A-Z]{1,2}\d{4}", error["code"]), (case.id, error)
        assert not python_text.search(error["message"]), (case.id, error["message"])
    placed = [
        case for case in both if contract[case.id]["error"]["position"] == reference[case.id]["error"]["position"]
    ]
    print(f"\nerrors with the reference's code: {len(both)}, also at the reference's position: {len(placed)}")
    # Positions are not promised to match (differences.py), but the contract reports them like the reference.
    assert len(placed) >= len(both) * 0.9, (len(placed), len(both))


@pytest.mark.parametrize(("expr", "expected"), sorted(LISTED_DIVERGENCES.items()))
def test_each_listed_divergence_is_in_the_corpus_and_agrees(
    expr: str, expected: Any, corpus: list[Case], contract: dict[str, Outcome], reference: dict[str, Outcome]
) -> None:
    matching = [case for case in corpus if case.expr == expr]
    assert matching, f"{expr!r} is not in the corpus"
    for case in matching:
        assert reference[case.id] == {"value": expected}
        assert contract[case.id] == {"value": expected}
