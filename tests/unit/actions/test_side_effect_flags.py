"""Which actions declare themselves side-effect free (``ActionSpec.pure``), as the replay preview reads it."""

from typing import Any

import pytest
from pydantic import BaseModel

from engine.actions.base import ActionContext, ActionSpec
from engine.actions.builtin import BUILTIN_SPECS
from engine.actions.registry import ActionRegistry


def builtin(name: str) -> ActionSpec:
    return next(spec for spec in BUILTIN_SPECS if spec.name == name)


@pytest.mark.parametrize(("name", "pure"), [("core.echo", True), ("core.log", True), ("notify.outbox", False)])
def test_fixed_flags(name: str, pure: bool) -> None:
    assert builtin(name).is_pure({"topic": "t", "payload": {}, "message": "m"}) is pure


@pytest.mark.parametrize(
    ("request_input", "pure"),
    [
        ({"url": "http://x/"}, True),  # GET when absent, as the input model defaults
        ({"method": "GET", "url": "http://x/"}, True),
        ({"method": "head", "url": "http://x/"}, True),
        ({"method": "OPTIONS", "url": "http://x/"}, True),
        ({"method": "POST", "url": "http://x/"}, False),
        ({"method": "delete", "url": "http://x/"}, False),
        ({"method": {"$expr": "payload.method"}, "url": "http://x/"}, False),  # unresolved: assume the worst
        ("not an object", False),
    ],
)
def test_http_request_is_pure_by_method(request_input: Any, pure: bool) -> None:
    assert builtin("http.request").is_pure(request_input) is pure


class _Model(BaseModel):
    pass


async def _handler(ctx: ActionContext, data: _Model) -> _Model:
    return data


def test_plugins_that_do_not_say_have_side_effects() -> None:
    spec = ActionSpec(
        name="acme.ship", version=1, description="", input_model=_Model, output_model=_Model, handler=_handler
    )
    assert spec.is_pure({}) is False
    assert ActionRegistry([spec]).get("acme.ship", 1).is_pure({}) is False


def test_a_judgement_that_raises_counts_as_a_side_effect() -> None:
    def broken(_input: Any) -> bool:
        raise KeyError("method")

    spec = ActionSpec(
        name="acme.maybe", version=1, description="", input_model=_Model, output_model=_Model, handler=_handler,
        pure=broken,
    )  # fmt: skip
    assert spec.is_pure({"method": "GET"}) is False
