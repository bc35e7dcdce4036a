"""The action registry: built-in actions plus plugins from the ``runstudio.actions`` entry points.

Writing a plugin
----------------
A plugin is any installed distribution that declares an entry point in group ``runstudio.actions``
in its ``pyproject.toml``::

    [project.entry-points."runstudio.actions"]
    greet = "my_package.actions:SPEC"

The object it names is an :class:`~engine.actions.base.ActionSpec`, or a callable taking no arguments
that returns an ``ActionSpec`` or a list of them. Install the distribution in every environment that
runs the worker or publishes definitions (publishing checks that actions and versions exist).

The worker gets every plugin or none: if any entry point cannot be imported, returns something else,
or clashes with an action already registered, :func:`default_registry` raises :class:`PluginLoadError`
naming the entry point, so the worker refuses to start. A half-loaded registry would instead start
and then fail runs later with "unknown action", far from the cause.
"""

import functools
import importlib.metadata
from collections.abc import Iterable
from typing import Final

from engine.actions.base import ActionSpec
from engine.actions.builtin import BUILTIN_SPECS
from engine.actions.errors import ActionError, ErrorCategory, PluginLoadError

ENTRY_POINT_GROUP: Final = "runstudio.actions"


class ActionRegistry:
    """Action specs keyed by ``(name, version)``."""

    def __init__(self, specs: Iterable[ActionSpec] = ()) -> None:
        self._specs: dict[tuple[str, int], ActionSpec] = {}
        for spec in specs:
            self.register(spec)

    def register(self, spec: ActionSpec) -> None:
        """Add ``spec``; raise ``ValueError`` if that name and version is already registered."""
        key = (spec.name, spec.version)
        if key in self._specs:
            raise ValueError(f"action {spec.label} is already registered")
        self._specs[key] = spec

    def get(self, name: str, version: int) -> ActionSpec:
        """Return the spec, or raise ``ActionError`` (``ValidationError``) listing the known actions."""
        try:
            return self._specs[(name, version)]
        except KeyError:
            known = ", ".join(spec.label for spec in self.specs()) or "(none)"
            raise ActionError(ErrorCategory.VALIDATION, f"unknown action {name} v{version}; known: {known}") from None

    def exists(self, name: str, version: int) -> bool:
        """Tell whether ``name`` at ``version`` is registered."""
        return (name, version) in self._specs

    def specs(self) -> list[ActionSpec]:
        """Return every registered spec, ordered by name then version."""
        return [self._specs[key] for key in sorted(self._specs)]


@functools.cache
def default_registry() -> ActionRegistry:
    """Return the process-wide registry: the built-ins plus every installed plugin.

    Built once per process. Raises :class:`PluginLoadError` if a plugin cannot be loaded (and then
    caches nothing, so the next call tries again).
    """
    registry = ActionRegistry(BUILTIN_SPECS)
    load_plugins(registry)
    return registry


def load_plugins(registry: ActionRegistry, entry_points: Iterable[importlib.metadata.EntryPoint] | None = None) -> None:
    """Register the specs of ``entry_points`` (default: the installed ``runstudio.actions`` group).

    Raises :class:`PluginLoadError` naming the first entry point that fails; the specs of entry
    points before it stay registered, which is why callers discard the registry on error.
    """
    if entry_points is None:
        entry_points = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    for entry_point in entry_points:
        for spec in _specs_of(entry_point):
            try:
                registry.register(spec)
            except ValueError as exc:
                raise PluginLoadError(f"action plugin {_describe(entry_point)}: {exc}") from exc


def _specs_of(entry_point: importlib.metadata.EntryPoint) -> list[ActionSpec]:
    try:
        loaded = entry_point.load()
        provided = loaded() if callable(loaded) else loaded
    except Exception as exc:
        raise PluginLoadError(
            f"action plugin {_describe(entry_point)} failed to load: {type(exc).__name__}: {exc}"
        ) from exc
    if isinstance(provided, ActionSpec):
        return [provided]
    if isinstance(provided, list | tuple) and all(isinstance(item, ActionSpec) for item in provided):
        return list(provided)
    raise PluginLoadError(
        f"action plugin {_describe(entry_point)} provided {type(provided).__name__}; expected an "
        "ActionSpec, a list of them, or a callable returning either"
    )


def _describe(entry_point: importlib.metadata.EntryPoint) -> str:
    source = f" from {entry_point.dist.name} {entry_point.dist.version}" if entry_point.dist else ""
    return f"'{entry_point.name} = {entry_point.value}' (group {entry_point.group}{source})"
