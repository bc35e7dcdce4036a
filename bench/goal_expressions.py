"""The expression ratio of issue 10: the engine's expression contract vs the JSONata reference on node (<= 3x).

Measured by ``bench.expressions`` (same document, same five expression shapes); the line reports the worst
case's ratio and the note lists every case.
"""

import asyncio

from bench.common import Bench, Result, not_measured, ratio_result

GOAL = 3.0


def _measure(batches: int, min_batch_ms: float) -> list[Result]:
    from bench.expressions import CASES, document, time_contract, time_reference

    context = document()
    reference = time_reference(context, batches, min_batch_ms)
    if reference is None:
        why = "no node or no .cache/jsonata-ref (make jsonata-ref installs it)"
        return [not_measured("expressions vs JSONata JS", f"<= {GOAL:.2f}x", why)]
    ratios = {
        name: time_contract(src, context, batches, min_batch_ms) / reference[name]["us"] for name, src in CASES.items()
    }
    worst = max(ratios, key=lambda name: ratios[name])
    note = "worst: " + worst + "; " + ", ".join(f"{name} {r:.2f}x" for name, r in ratios.items())
    return [ratio_result("expressions vs JSONata JS (worst)", ratios[worst], 1.0, GOAL, note)]


async def expressions_goal(bench: Bench) -> list[Result]:
    """The five cases, each the median of a few batches (on a thread: the loop stays free)."""
    return await asyncio.to_thread(_measure, bench.pick(3, 7), float(bench.pick(50, 200)))


GOALS = {"expressions": expressions_goal}
