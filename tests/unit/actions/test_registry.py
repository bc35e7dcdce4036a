"""ActionRegistry, default_registry() and plugin loading through (hand-made) entry points."""

import re
from collections.abc import Iterator
from importlib.metadata import EntryPoint

import pytest

from engine.actions.base import invoke
from engine.actions.builtin import BUILTIN_SPECS
from engine.actions.builtin.core import ECHO, LOG
from engine.actions.errors import ActionError, ErrorCategory, PluginLoadError
from engine.actions.registry import ENTRY_POINT_GROUP, ActionRegistry, default_registry, load_plugins
from tests.fixtures.example_plugin.greet import LOUD_SPEC, SPEC
from tests.unit.actions.support import make_context

PLUGIN = "tests.fixtures.example_plugin"


def entry_point(name: str, value: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group=ENTRY_POINT_GROUP)


@pytest.fixture
def fresh_default_registry() -> Iterator[None]:
    default_registry.cache_clear()
    yield
    default_registry.cache_clear()


def test_register_get_exists_and_specs() -> None:
    registry = ActionRegistry([LOG])
    registry.register(ECHO)

    assert registry.get("core.echo", 1) is ECHO
    assert registry.exists("core.log", 1)
    assert not registry.exists("core.log", 2)
    assert registry.specs() == [ECHO, LOG]


def test_duplicate_registration_is_refused() -> None:
    registry = ActionRegistry([ECHO])

    with pytest.raises(ValueError, match=r"action core\.echo v1 is already registered"):
        registry.register(ECHO)


def test_unknown_action_is_a_validation_error_listing_known_ones() -> None:
    registry = ActionRegistry([ECHO, LOG])

    with pytest.raises(ActionError) as caught:
        registry.get("core.echo", 2)

    assert caught.value.category == ErrorCategory.VALIDATION
    assert caught.value.message == "unknown action core.echo v2; known: core.echo v1, core.log v1"


def test_unknown_action_in_an_empty_registry() -> None:
    with pytest.raises(ActionError, match=r"known: \(none\)"):
        ActionRegistry().get("x", 1)


def test_default_registry_has_the_builtins_and_is_cached(fresh_default_registry: None) -> None:
    registry = default_registry()

    assert registry is default_registry()
    assert sorted((s.name, s.version) for s in registry.specs()) == sorted((s.name, s.version) for s in BUILTIN_SPECS)


def test_default_registry_fails_fast_on_a_broken_plugin(
    fresh_default_registry: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = entry_point("broken", f"{PLUGIN}.broken:SPEC")

    def installed(*, group: str) -> list[EntryPoint]:
        assert group == ENTRY_POINT_GROUP
        return [broken]

    monkeypatch.setattr("importlib.metadata.entry_points", installed)

    with pytest.raises(PluginLoadError, match=re.escape(f"'broken = {PLUGIN}.broken:SPEC'")):
        default_registry()


async def test_plugin_spec_loads_through_an_entry_point_and_runs() -> None:
    registry = ActionRegistry(BUILTIN_SPECS)

    load_plugins(registry, [entry_point("greet", f"{PLUGIN}.greet:SPEC")])

    assert registry.get("example.greet", 1) is SPEC
    assert await invoke(SPEC, make_context(), {"name": "Ada"}) == {"greeting": "Hello, Ada!"}


def test_plugin_callable_may_return_several_specs() -> None:
    registry = ActionRegistry()

    load_plugins(registry, [entry_point("greet", f"{PLUGIN}.greet:all_specs")])

    assert registry.specs() == [SPEC, LOUD_SPEC]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (f"{PLUGIN}.broken:SPEC", "failed to load: ImportError: example_plugin.broken needs a package"),
        (f"{PLUGIN}.missing:SPEC", "failed to load: ModuleNotFoundError"),
        (f"{PLUGIN}.greet:NO_SUCH_NAME", "failed to load: AttributeError"),
        (f"{PLUGIN}.greet:NOT_A_SPEC", "provided dict; expected an ActionSpec"),
        (f"{PLUGIN}.greet:GreetInput", "failed to load: ValidationError"),
    ],
)
def test_broken_plugins_raise_an_error_naming_the_entry_point(value: str, reason: str) -> None:
    with pytest.raises(PluginLoadError) as caught:
        load_plugins(ActionRegistry(), [entry_point("greet", value)])

    message = str(caught.value)
    assert f"action plugin 'greet = {value}' (group runstudio.actions)" in message
    assert reason in message


def test_plugin_clashing_with_a_registered_action_is_refused() -> None:
    registry = ActionRegistry([SPEC])

    with pytest.raises(PluginLoadError, match=r"'again = .*greet:SPEC'.*example\.greet v1 is already registered"):
        load_plugins(registry, [entry_point("again", f"{PLUGIN}.greet:SPEC")])
