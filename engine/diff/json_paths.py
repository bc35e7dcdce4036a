"""Differences between two redacted JSON values, one entry per JSON path that was added, removed or changed.

Both values are already redacted (``engine.redaction``): a secret reads ``[REDACTED]`` on either side, so
two placeholders that look equal may hide different secrets. ``SecretKnowledge`` says what is known about
the secrets behind them (from the replay that linked the two runs; nothing is ever decrypted here): where a
secret is known to differ the entry is ``changed`` with both sides shown as the placeholder; where nothing
is known it is ``not compared``; where the secrets are known to be the same the placeholders compare equal.
"""

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from pydantic import BaseModel

from engine.redaction import PLACEHOLDER

Change = Literal["added", "removed", "changed", "not compared"]

MAX_CHANGES: Final = 200
"""Entries kept per section; a diff of two unrelated payloads would otherwise be as long as both."""

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

Location = tuple[str | int, ...]


class PathChange(BaseModel):
    """One JSON path whose value differs (or cannot be compared) between run A and run B."""

    path: str
    change: Change
    before: Any = None
    """A's value (redacted); ``None`` when the path was added."""
    after: Any = None
    """B's value (redacted); ``None`` when the path was removed."""
    secret: bool = False
    """A redacted value is involved: the values shown are placeholders, never the secret."""


class PathSection(BaseModel):
    """The changes of one compared value (input, or vars and output), capped at ``MAX_CHANGES``."""

    changes: list[PathChange]
    omitted: int = 0
    """Further changes beyond the cap, not listed."""


@dataclass(frozen=True)
class SecretKnowledge:
    """What is known about the secrets behind two runs' placeholders, without reading any secret.

    ``known`` False: nothing (two unrelated runs, or a replay recorded before replays noted it).
    ``known`` True: the input secrets at ``changed`` (``$``-paths into the input) differ; all others are equal.
    """

    known: bool
    changed: frozenset[str] = field(default_factory=frozenset)
    reason: str = ""
    """How it is known, or why not (said under the diff)."""

    @property
    def all_same(self) -> bool:
        """Every secret behind a placeholder is the same on both sides."""
        return self.known and not self.changed


def format_path(location: Location, root: str = "$") -> str:
    """``root.key[0]``; a key that is not an identifier is quoted (``root["a b"]``), so paths read unambiguously."""
    parts = [root]
    for part in location:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        elif _IDENTIFIER.fullmatch(part):
            parts.append(f".{part}")
        else:
            parts.append(f"[{json.dumps(part, ensure_ascii=False)}]")
    return "".join(parts)


def diff_values(
    before: Any,
    after: Any,
    *,
    root: str,
    secrets: SecretKnowledge,
    secret_paths_apply: bool = False,
    limit: int = MAX_CHANGES,
) -> PathSection:
    """Every path under ``root`` where ``before`` (run A) and ``after`` (run B) differ.

    ``secret_paths_apply``: the values are the runs' inputs, so ``secrets.changed`` names locations in them;
    elsewhere (vars, output) a placeholder may hide any secret, and equal text holding one is compared only
    when every secret is known to be the same.
    """
    changes: list[PathChange] = []
    omitted = 0
    for change in _walk(before, after, (), root=root, secrets=secrets, input_paths=secret_paths_apply):
        if len(changes) < limit:
            changes.append(change)
        else:
            omitted += 1
    return PathSection(changes=changes, omitted=omitted)


def _same(a: Any, b: Any) -> bool:
    # JSON equality: true is not 1, and 1 equals 1.0 only as numbers.
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and bool(a == b)


def _holds_placeholder(value: Any) -> bool:
    if isinstance(value, str):
        return PLACEHOLDER in value
    if isinstance(value, dict):
        return any(_holds_placeholder(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_placeholder(v) for v in value)
    return False


def _walk(
    a: Any, b: Any, here: Location, *, root: str, secrets: SecretKnowledge, input_paths: bool
) -> Iterator[PathChange]:
    path = format_path(here, root)
    if isinstance(a, dict) and isinstance(b, dict):
        for key in [*a, *(k for k in b if k not in a)]:
            if key not in b:
                yield PathChange(
                    path=format_path((*here, key), root),
                    change="removed",
                    before=a[key],
                    secret=_holds_placeholder(a[key]),
                )
            elif key not in a:
                yield PathChange(
                    path=format_path((*here, key), root),
                    change="added",
                    after=b[key],
                    secret=_holds_placeholder(b[key]),
                )
            else:
                yield from _walk(a[key], b[key], (*here, key), root=root, secrets=secrets, input_paths=input_paths)
        return
    if isinstance(a, list) and isinstance(b, list):
        for index in range(max(len(a), len(b))):
            location = (*here, index)
            if index >= len(b):
                yield PathChange(
                    path=format_path(location, root),
                    change="removed",
                    before=a[index],
                    secret=_holds_placeholder(a[index]),
                )
            elif index >= len(a):
                yield PathChange(
                    path=format_path(location, root),
                    change="added",
                    after=b[index],
                    secret=_holds_placeholder(b[index]),
                )
            else:
                yield from _walk(a[index], b[index], location, root=root, secrets=secrets, input_paths=input_paths)
        return
    secret = _holds_placeholder(a) or _holds_placeholder(b)
    if not _same(a, b):
        yield PathChange(path=path, change="changed", before=a, after=b, secret=secret)
        return
    if not secret or secrets.all_same:
        return
    if input_paths and a == PLACEHOLDER and secrets.known:
        if format_path(here) in secrets.changed:
            yield PathChange(path=path, change="changed", before=a, after=b, secret=True)
        return
    # Equal text around a placeholder: the secrets behind it may differ, and nothing here may read them.
    yield PathChange(path=path, change="not compared", before=a, after=b, secret=True)
