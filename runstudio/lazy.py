"""Light stand-ins for heavy imports, so that building the CLI (every invocation, ``--help`` too) stays cheap.

Typer imports every command module to read the signatures; these let a module name what its commands use
without loading it: the settings (pydantic) and engine modules that pull in the SDK or process tools.
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.config import Settings


class _LazyModule(ModuleType):
    """Forwards every attribute read to the real module, importing it on the first one."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._target: ModuleType | None = None

    def __getattr__(self, attribute: str) -> Any:
        # Only reached for names the stand-in itself lacks, i.e. everything the real module defines.
        target = self._target
        if target is None:
            target = self._target = import_module(self.__name__)
        return getattr(target, attribute)


def lazy_module(name: str) -> ModuleType:
    """A stand-in for module ``name`` that imports it when an attribute is first read.

    Nothing is placed in ``sys.modules``: the module counts as imported only once it really is, and a test
    that patches an attribute of the real module is seen through the stand-in.
    """
    return _LazyModule(name)


class _LazyAttribute:
    """Stands for ``module.name``: calls and attribute reads import the module and go to the real object."""

    def __init__(self, module: str, name: str) -> None:
        self._module = lazy_module(module)
        self._name = name

    def _target(self) -> Any:
        return getattr(self._module, self._name)

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._target(), attribute)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._target()(*args, **kwargs)


def lazy_attribute(module: str, name: str) -> Any:
    """A stand-in for ``from module import name`` that imports ``module`` when the name is first used.

    Bind it under ``TYPE_CHECKING``'s ``else`` branch so the type checker still sees the real import.
    """
    return _LazyAttribute(module, name)


def load_settings() -> Settings:
    """``engine.config.load_settings()``, with the settings model imported only when a command reads them."""
    from engine.config import load_settings as load

    return load()
