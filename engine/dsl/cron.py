"""Cron expressions a schedule trigger may use: checked at publish, in the subset Temporal reads the same way.

Accepted: five fields (minute hour day-of-month month day-of-week), each ``*`` or a comma list of
``N``, ``N-M``, ``*/S`` and ``N-M/S``, with month names ``jan``…``dec`` and day names ``sun``…``sat``
(day-of-week 0–7, both 0 and 7 are Sunday); or one of the macros ``@yearly``, ``@annually``,
``@monthly``, ``@weekly``, ``@daily``, ``@midnight``, ``@hourly``. Temporal's parser also takes
seconds/years fields, ``@every``, ``CRON_TZ=`` and ``#`` — but ``#`` there starts a *comment*
(``0 9 * * 1#2`` would run every Monday), so anything outside the subset is refused rather than
silently read differently. The time zone has its own field (``timezone``).
"""

import re
from typing import Final

MACROS: Final = frozenset({"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"})

_MONTHS: Final = {
    name: number
    for number, name in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1
    )
}
_DAYS: Final = {name: number for number, name in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}

# (name, lowest, highest, names) for each of the five fields, in order.
_FIELDS: Final[tuple[tuple[str, int, int, dict[str, int]], ...]] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)
_ITEM = re.compile(r"^(?:(?P<star>\*)|(?P<low>[0-9a-z]+)(?:-(?P<high>[0-9a-z]+))?)(?:/(?P<step>[0-9]+))?$")


def cron_problem(cron: str) -> str | None:
    """Why ``cron`` is not an accepted expression, or ``None`` when it is."""
    text = cron.strip()
    if text.startswith("@"):
        return None if text.lower() in MACROS else f"unknown macro {text!r}; use one of {', '.join(sorted(MACROS))}"
    fields = text.split()
    if len(fields) != len(_FIELDS):
        return (
            f"{cron!r} is not a cron expression: it needs 5 fields (minute hour day-of-month month day-of-week), "
            f"e.g. '0 9 * * mon-fri', or a macro such as @hourly; it has {len(fields)}"
        )
    for value, (name, low, high, names) in zip(fields, _FIELDS, strict=True):
        for item in value.lower().split(","):
            problem = _item_problem(item, low, high, names)
            if problem is not None:
                return f"the {name} field {value!r}: {problem}"
    return None


def _item_problem(item: str, low: int, high: int, names: dict[str, int]) -> str | None:
    match = _ITEM.match(item)
    if match is None:
        return f"{item!r} is not *, N, N-M or a step (*/S, N-M/S)"
    if match["step"] is not None and int(match["step"]) == 0:
        return "a step must be at least 1"
    if match["star"]:
        return None
    bounds: list[int] = []
    for part in (match["low"], match["high"]):
        if part is None:
            continue
        number = names.get(part) if not part.isdigit() else int(part)
        if number is None:
            return f"{part!r} is not a number" + (f" or a name ({', '.join(names)})" if names else "")
        if not low <= number <= high:
            return f"{number} is outside {low}-{high}"
        bounds.append(number)
    if len(bounds) == 2 and bounds[0] > bounds[1]:
        return f"the range {item!r} runs backwards"
    return None
