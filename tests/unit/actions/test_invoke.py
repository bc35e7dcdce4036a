"""invoke(): input validation, error classification and output dumping, with throwaway actions."""

import asyncio
import pickle
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, ConfigDict, Field

from engine.actions.base import ActionContext, ActionSpec, invoke
from engine.actions.errors import ActionError, ErrorCategory
from tests.unit.actions.support import make_context


class Item(BaseModel):
    name: str


class Order(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[Item]
    quantity: int = Field(ge=1)


class Total(BaseModel):
    model_config = ConfigDict(validate_by_name=True)

    total_count: int = Field(alias="totalCount")
    extra: Any = None


def spec_with(handler: Callable[[ActionContext, Any], Awaitable[BaseModel]]) -> ActionSpec:
    return ActionSpec(
        name="test.order", version=1, description="", input_model=Order, output_model=Total, handler=handler
    )


async def count(ctx: ActionContext, order: Order) -> Total:
    return Total(total_count=len(order.items) * order.quantity)


async def test_valid_input_gives_json_native_output_by_alias() -> None:
    output = await invoke(spec_with(count), make_context(), {"items": [{"name": "a"}], "quantity": 3})

    assert output == {"totalCount": 3, "extra": None}


async def test_invalid_input_is_a_validation_error_listing_field_paths() -> None:
    with pytest.raises(ActionError) as caught:
        await invoke(spec_with(count), make_context(), {"items": [{"nom": "a"}], "quantity": 0, "x": 1})

    error = caught.value
    assert error.category == ErrorCategory.VALIDATION
    assert error.message.startswith("invalid input for test.order v1: ")
    assert "items[0].name: Field required" in error.message
    assert "quantity: Input should be greater than or equal to 1" in error.message
    assert "x: Extra inputs are not permitted" in error.message
    assert error.details is not None
    assert {"path": "quantity", "message": "Input should be greater than or equal to 1"} in error.details["errors"]


async def test_validation_details_do_not_echo_input_values() -> None:
    with pytest.raises(ActionError) as caught:
        await invoke(spec_with(count), make_context(), {"items": "secret-token-value", "quantity": 1})

    assert "secret-token-value" not in repr(caught.value.as_dict())


async def test_non_object_input_is_a_validation_error() -> None:
    with pytest.raises(ActionError) as caught:
        await invoke(spec_with(count), make_context(), ["not", "an", "object"])  # type: ignore[arg-type]

    assert caught.value.category == ErrorCategory.VALIDATION
    assert "(input): " in caught.value.message


async def test_action_errors_pass_through_unchanged() -> None:
    async def refuse(ctx: ActionContext, order: Order) -> Total:
        raise ActionError("OutOfStock", "no stock", {"sku": "x"})

    with pytest.raises(ActionError) as caught:
        await invoke(spec_with(refuse), make_context(), {"items": [], "quantity": 1})

    assert caught.value.as_dict() == {
        "category": "OutOfStock",
        "message": "no stock",
        "details": {"sku": "x"},
    }


@pytest.mark.parametrize(
    ("raised", "category", "fragment"),
    [
        (RuntimeError("kaput"), ErrorCategory.INTERNAL, "failed unexpectedly: RuntimeError: kaput"),
        (KeyError("k"), ErrorCategory.INTERNAL, "KeyError: 'k'"),
        (TimeoutError("slow"), ErrorCategory.TIMEOUT, "timed out: TimeoutError: slow"),
        (httpx.ReadTimeout("read timed out"), ErrorCategory.TIMEOUT, "ReadTimeout: read timed out"),
        (httpx.ConnectError("refused"), ErrorCategory.NETWORK, "could not connect: ConnectError: refused"),
        (ConnectionResetError("reset"), ErrorCategory.NETWORK, "ConnectionResetError: reset"),
    ],
)
async def test_unexpected_exceptions_are_classified(raised: Exception, category: ErrorCategory, fragment: str) -> None:
    async def explode(ctx: ActionContext, order: Order) -> Total:
        raise raised

    with pytest.raises(ActionError) as caught:
        await invoke(spec_with(explode), make_context(), {"items": [], "quantity": 1})

    assert caught.value.category == category
    assert caught.value.message.startswith("test.order v1 ")
    assert fragment in caught.value.message
    assert caught.value.__cause__ is raised


async def test_cancellation_is_not_turned_into_an_action_error() -> None:
    async def cancelled(ctx: ActionContext, order: Order) -> Total:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await invoke(spec_with(cancelled), make_context(), {"items": [], "quantity": 1})


async def test_wrong_output_type_is_internal() -> None:
    async def wrong(ctx: ActionContext, order: Order) -> BaseModel:
        return Item(name="not a total")

    with pytest.raises(ActionError) as caught:
        await invoke(spec_with(wrong), make_context(), {"items": [], "quantity": 1})

    assert caught.value.category == ErrorCategory.INTERNAL
    assert caught.value.message == "test.order v1 returned Item, expected Total"


async def test_output_that_is_not_json_is_internal() -> None:
    async def unserialisable(ctx: ActionContext, order: Order) -> Total:
        return Total(total_count=1, extra=object())

    with pytest.raises(ActionError) as caught:
        await invoke(spec_with(unserialisable), make_context(), {"items": [], "quantity": 1})

    assert caught.value.category == ErrorCategory.INTERNAL
    assert "not JSON" in caught.value.message


def test_action_error_survives_pickling_and_reads_well() -> None:
    error = ActionError(ErrorCategory.HTTP, "GET http://x/ answered HTTP 500", {"status": 500})

    copy = pickle.loads(pickle.dumps(error))

    assert copy.as_dict() == error.as_dict()
    assert str(copy) == "HttpError: GET http://x/ answered HTTP 500"
    assert type(copy.category) is str


@pytest.mark.parametrize(("name", "version"), [("", 1), (" core.x", 1), ("core.x", 0)])
def test_spec_rejects_bad_name_or_version(name: str, version: int) -> None:
    with pytest.raises(ValueError, match="action"):
        ActionSpec(name=name, version=version, description="", input_model=Order, output_model=Total, handler=count)
