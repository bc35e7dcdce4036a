"""How fast is the expression contract against the JSONata reference? (issue 10's ≤ 3× goal)

For each case below, prints the median µs per evaluation of ``engine.expressions.evaluate`` (the full
contract: cached compile, clock functions, guardrails, JSON result and its size check) and of the
reference implementation (the npm package ``jsonata`` 2.2.2 on ``node``, compiled once, ``await
expr.evaluate(input)``), on the same document, and the ratio. Each figure is the median of several
timed batches after a warm-up, so one noisy batch on a shared machine does not decide it.

With ``--rounds N`` the whole measurement (reference, then contract) runs N times and each figure is
the median over the rounds, so a load spike from another process on a shared machine skews one round
only.

The cases loop of ``runstudio expr --cases`` (one JSON line per case, five shapes, one a syntax error) is
measured too, in cases per second: in process (``run_case_lines``) and as the CLI runs it (a subprocess,
the cost of a bare ``runstudio expr 1`` subtracted). These rates used to be asserted in tests, which on a
shared machine only measured its load; they are printed here, with the load average, never asserted.

Usage: ``.venv/bin/python -m bench.expressions [--rounds 3] [--batches 7] [--min-batch-ms 200] [--json]
[--cases 4000]`` (``--cases 0`` skips the cases loop; ``--json`` prints the expression rows only).
The reference is looked up in ``.cache/jsonata-ref`` (``npm install --prefix .cache/jsonata-ref
jsonata@2.2.2``, as ``make test`` does); without it or without ``node`` only the contract is measured.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.expressions import EvalEnv, evaluate
from runstudio.commands.expr import clock_env, run_case_lines

REFERENCE_DIR = Path(__file__).resolve().parent.parent / ".cache" / "jsonata-ref"

CASES: dict[str, str] = {
    "path lookup": "payload.ticket.customer.email",
    "$sum over 100 items": "$sum(payload.items.price)",
    "5-part string concat": "payload.ticket.id & ': ' & payload.ticket.title & ' / ' & meta.tenant",
    "filter predicate": "payload.items[price > 50 and tags = 'red'].sku",
    "$map with a lambda, 100 items": "$map(payload.items, function($i) { $i.price * $i.qty })",
}
"""Name → expression; the five shapes issue 10 names."""


def document() -> dict[str, Any]:
    """A run context as the engine builds it: a ticket, 100 order lines, vars and meta."""
    items = [
        {
            "sku": f"SKU-{n:04d}",
            "price": round(1.5 + (n * 37 % 100) + n / 100, 2),
            "qty": 1 + n % 5,
            "tags": ["red", "big"] if n % 3 == 0 else ["blue"],
            "note": None if n % 7 == 0 else f"line {n}",
        }
        for n in range(100)
    ]
    return {
        "payload": {
            "ticket": {
                "id": "T-1042",
                "title": "Refund for order 7731 — café crème",
                "priority": 3,
                "customer": {"email": "ana@example.com", "name": "Ana", "tier": "gold"},
            },
            "items": items,
        },
        "vars": {"lookup": {"status": "open"}, "attempts": 2},
        "meta": {"run_id": "r-1", "workflow_id": "orders", "workflow_version": 4, "tenant": "acme", "attempt": 1},
    }


_NODE_SCRIPT = r"""
const jsonata = require('jsonata');
const [cases, input, batches, minBatchMs] = JSON.parse(require('fs').readFileSync(0, 'utf8'));
(async () => {
  const out = {};
  for (const [name, source] of Object.entries(cases)) {
    const expr = jsonata(source);
    const value = await expr.evaluate(input);
    let n = 1;
    for (;;) {  // size a batch so it lasts at least minBatchMs
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) await expr.evaluate(input);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (ms >= minBatchMs) break;
      n *= 2;
    }
    const perCall = [];
    for (let b = 0; b < batches; b++) {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) await expr.evaluate(input);
      perCall.push(Number(process.hrtime.bigint() - t0) / 1e3 / n);
    }
    perCall.sort((a, b) => a - b);
    out[name] = {us: perCall[Math.floor(perCall.length / 2)], value: value === undefined ? null : value};
  }
  process.stdout.write(JSON.stringify(out));
})();
"""


def time_contract(source: str, context: dict[str, Any], batches: int, min_batch_ms: float) -> float:
    """Median µs per ``evaluate`` call of ``source``, over ``batches`` batches of at least ``min_batch_ms``."""
    env = EvalEnv(now=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    return _median_us(lambda: evaluate(source, context, env, step_path="bench"), batches, min_batch_ms)


def _median_us(call: Callable[[], object], batches: int, min_batch_ms: float) -> float:
    call()
    n = 1
    while True:
        started = time.perf_counter()
        for _ in range(n):
            call()
        if (time.perf_counter() - started) * 1000 >= min_batch_ms:
            break
        n *= 2
    per_call = []
    for _ in range(batches):
        started = time.perf_counter()
        for _ in range(n):
            call()
        per_call.append((time.perf_counter() - started) * 1e6 / n)
    return statistics.median(per_call)


def time_reference(context: dict[str, Any], batches: int, min_batch_ms: float) -> dict[str, dict[str, Any]] | None:
    """``{name: {"us", "value"}}`` from the reference on node, or None when node or the package is missing."""
    node = shutil.which("node")
    modules = REFERENCE_DIR / "node_modules"
    if node is None or not (modules / "jsonata").is_dir():
        return None
    completed = subprocess.run(
        [node, "-e", _NODE_SCRIPT],
        input=json.dumps([CASES, context, batches, min_batch_ms]),
        capture_output=True,
        text=True,
        check=True,
        env={"NODE_PATH": str(modules), "PATH": "/usr/bin:/bin"},
        timeout=600,
    )
    result: dict[str, dict[str, Any]] = json.loads(completed.stdout)
    return result


CASE_SHAPES: tuple[str, ...] = (
    "payload.a * 2",
    "payload.name & '!'",
    "$sum(payload.xs)",
    "vars.k = 'x' ? 'yes' : 'no'",
    "payload.(",
)
"""The shapes of the cases loop, in turn; the last is a syntax error, answered with its error object."""


def case_lines(count: int) -> list[str]:
    """``count`` JSON lines for ``runstudio expr --cases``, cycling through :data:`CASE_SHAPES`."""
    lines = []
    for n in range(count):
        payload = {"a": n, "name": "n", "xs": [1, n]}
        variables = {"k": "x" if n % 2 else "y"}
        case = {"id": f"c{n}", "expr": CASE_SHAPES[n % len(CASE_SHAPES)], "payload": payload, "vars": variables}
        lines.append(json.dumps(case))
    return lines


def time_cases_in_process(count: int) -> float:
    """Cases per second of ``run_case_lines`` over ``count`` cases (all answered, or it raises)."""
    lines = case_lines(count)
    env = clock_env("2024-05-01T12:00:00Z")
    list(run_case_lines(lines[:100], tenant="bench", env=env))  # warm-up: compiled expressions, imports
    started = time.perf_counter()
    answered = sum(1 for _ in run_case_lines(lines, tenant="bench", env=env))
    elapsed = time.perf_counter() - started
    if answered != count:
        raise RuntimeError(f"{answered} of {count} cases answered")
    return count / elapsed


def time_cases_cli(count: int) -> tuple[float, float]:
    """``(cases per second, process start in seconds)`` of ``runstudio expr --cases`` in a subprocess.

    The start is that of ``runstudio expr 1``, measured just before and subtracted from the cases run.
    """
    command = [sys.executable, "-c", "from runstudio.cli import main; main()", "expr"]
    with tempfile.TemporaryDirectory() as home:
        # expr needs no services; a home of its own keeps it from reading the user's configuration.
        env = {**os.environ, "RUNSTUDIO_HOME": home}
        subprocess.run([*command, "1"], env=env, capture_output=True, check=True)  # warm the file cache
        started = time.perf_counter()
        subprocess.run([*command, "1"], env=env, capture_output=True, check=True)
        start_cost = time.perf_counter() - started
        cases = Path(home) / "cases.jsonl"
        cases.write_text("\n".join(case_lines(count)) + "\n", encoding="utf-8")
        started = time.perf_counter()
        result = subprocess.run([*command, "--cases", str(cases)], env=env, capture_output=True, text=True)
        elapsed = time.perf_counter() - started
    # Exit 0: a case's own error (the syntax error) is an answer, not a failure of the loop.
    answered = len(result.stdout.splitlines())
    if result.returncode != 0 or answered != count:
        raise RuntimeError(f"expr --cases exited {result.returncode} with {answered} of {count} lines")
    return count / max(elapsed - start_cost, 1e-3), start_cost


def print_cases(count: int) -> None:
    """Print the cases loop's rates as a Markdown table, with the load average they were measured under."""
    in_process = time_cases_in_process(count)
    cli_rate, start_cost = time_cases_cli(count)
    load = " / ".join(f"{figure:.2f}" for figure in os.getloadavg())
    print(f"\n| cases loop ({count:,} cases) | cases/s |")
    print("|---|---|")
    print(f"| `run_case_lines`, in process | {in_process:,.0f} |")
    print(f"| `runstudio expr --cases`, process start ({start_cost:.2f} s) subtracted | {cli_rate:,.0f} |")
    print(f"\n(load average {load})")


def main() -> None:
    """Measure every case and print a Markdown table (or JSON with ``--json``)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=7, help="timed batches per case (median is reported)")
    parser.add_argument("--min-batch-ms", type=float, default=200.0, help="minimum length of one batch")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a Markdown table")
    parser.add_argument("--rounds", type=int, default=3, help="whole measurements; medians are reported")
    parser.add_argument("--cases", type=int, default=4000, help="cases for the cases loop's rate (0: skip)")
    args = parser.parse_args()

    context = document()
    env = EvalEnv(now=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    contract: dict[str, list[float]] = {name: [] for name in CASES}
    references: dict[str, list[float]] = {name: [] for name in CASES}
    ratios: dict[str, list[float]] = {name: [] for name in CASES}
    reference: dict[str, dict[str, Any]] | None = None
    for _ in range(args.rounds):
        reference = time_reference(context, args.batches, args.min_batch_ms)
        for name, source in CASES.items():
            contract[name].append(time_contract(source, context, args.batches, args.min_batch_ms))
            if reference is not None:
                references[name].append(reference[name]["us"])
                ratios[name].append(contract[name][-1] / reference[name]["us"])
    rows = []
    for name, source in CASES.items():
        row: dict[str, Any] = {
            "case": name,
            "expression": source,
            "contract_us": round(statistics.median(contract[name]), 2),
        }
        if reference is not None:
            row["reference_us"] = round(statistics.median(references[name]), 2)
            row["ratio"] = round(statistics.median(ratios[name]), 2)
            # A fast wrong answer is no result: both sides must compute the same value.
            row["same_value"] = evaluate(source, context, env) == reference[name]["value"]
        rows.append(row)

    if args.json:
        json.dump(rows, sys.stdout, indent=2, ensure_ascii=False)
        print()
        return
    print("| case | expression | contract µs | reference µs | ratio |")
    print("|---|---|---|---|---|")
    for row in rows:
        ref_us = f"{row['reference_us']:.2f}" if "reference_us" in row else "—"
        ratio = f"{row['ratio']:.2f}×" if "ratio" in row else "—"
        same = "" if row.get("same_value", True) else " (values differ!)"
        print(f"| {row['case']} | `{row['expression']}` | {row['contract_us']:.2f} | {ref_us} | {ratio}{same} |")
    if reference is None:
        print(f"\n(no reference: install it with `npm install --prefix {REFERENCE_DIR} jsonata@2.2.2`)")
    if args.cases > 0:
        print_cases(args.cases)


if __name__ == "__main__":
    main()
