"""Step addresses (``root.steps[2].then[0]``) and assignable ``vars.`` paths (``vars.a.b``).

A step path names the step list and index at each level, from ``root.steps``; the nested lists are
``then``, ``else``, ``body``, ``try`` and ``catch``. Paths are stable: they depend only on the
definition, so they can key step rows, checkpoints and interpreter frames.

An assignable path is ``vars.`` followed by one or more dot-separated segments, each an identifier
(``[A-Za-z_][A-Za-z0-9_]*``) or a non-negative integer. A digit segment indexes a list when the value
there is a list and is an ordinary key otherwise. :func:`set_path` copies each container along the
path and shares everything else: treat values in ``vars`` as immutable.
"""

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from engine.dsl.models import Definition, Step

ROOT = "root"

_VARS_PREFIX = "vars."
_SEGMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class PathError(ValueError):
    """A path is malformed, or cannot be followed through the value it is applied to."""


def child_path(parent_path: str, branch: str, index: int) -> str:
    """The path of the ``index``-th step of list ``branch`` under ``parent_path``."""
    return f"{parent_path}.{branch}[{index}]"


def iter_steps(definition: Definition) -> Iterator[tuple[str, Step]]:
    """Yield ``(path, step)`` for every step, depth first in document order."""
    yield from _walk(ROOT, "steps", definition.steps)


def _walk(parent_path: str, branch: str, steps: Sequence[Step]) -> Iterator[tuple[str, Step]]:
    for index, step in enumerate(steps):
        path = child_path(parent_path, branch, index)
        yield path, step
        for child_branch, children in step.branches():
            yield from _walk(path, child_branch, children)


def step_index(definition: Definition) -> dict[str, Step]:
    """Every step keyed by its path, for resolving the paths stored in interpreter frames."""
    return dict(iter_steps(definition))


def is_identifier(name: str) -> bool:
    """Whether ``name`` is a plain identifier (``[A-Za-z_][A-Za-z0-9_]*``)."""
    return _IDENTIFIER.fullmatch(name) is not None


def parse_assign_path(path: str) -> tuple[str, ...]:
    """Split ``vars.a.b`` into ``("a", "b")``; raise :class:`PathError` if it is not assignable."""
    if not path.startswith(_VARS_PREFIX):
        raise PathError(f"{path!r} is not assignable: it must start with {_VARS_PREFIX!r}, like vars.result")
    segments = tuple(path[len(_VARS_PREFIX) :].split("."))
    for segment in segments:
        if _SEGMENT.fullmatch(segment) is None:
            raise PathError(f"{path!r} is not assignable: segment {segment!r} is neither an identifier nor an index")
    return segments


def get_path(variables: Mapping[str, Any], path: str, default: Any = None) -> Any:
    """The value at assignable ``path`` in ``variables``, or ``default`` where the path leads nowhere."""
    current: Any = variables
    for segment in parse_assign_path(path):
        if isinstance(current, Mapping) and segment in current:
            current = current[segment]
        elif isinstance(current, list) and segment.isdigit() and int(segment) < len(current):
            current = current[int(segment)]
        else:
            return default
    return current


def set_path(variables: Mapping[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``variables`` with ``value`` at assignable ``path``; the argument is left unchanged.

    Missing or ``None`` containers on the way become objects. Raise :class:`PathError` when the path
    runs into a scalar, or an index past the end of a list (appending needs an explicit index).
    """
    return _set_in_mapping(variables, parse_assign_path(path), value, path)


def _set_in_mapping(mapping: Mapping[str, Any], segments: tuple[str, ...], value: Any, path: str) -> dict[str, Any]:
    head, rest = segments[0], segments[1:]
    copy = dict(mapping)
    copy[head] = _set(copy.get(head), rest, value, path) if rest else value
    return copy


def _set(container: Any, segments: tuple[str, ...], value: Any, path: str) -> Any:
    if container is None:
        return _set_in_mapping({}, segments, value, path)
    if isinstance(container, Mapping):
        return _set_in_mapping(container, segments, value, path)
    head, rest = segments[0], segments[1:]
    if isinstance(container, list) and head.isdigit():
        index = int(head)
        if index >= len(container):
            raise PathError(f"cannot set {path!r}: index {index} is past the end of a list of {len(container)}")
        items = list(container)
        items[index] = _set(items[index], rest, value, path) if rest else value
        return items
    raise PathError(f"cannot set {path!r}: segment {head!r} leads into a {type(container).__name__}")
