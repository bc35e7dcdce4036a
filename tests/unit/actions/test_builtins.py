"""The core.* built-ins and the database-free behaviour of notify.outbox (its SQL is tested in
tests/integration/test_notify_outbox.py; http.request has its own module)."""

from typing import Any

import pytest

from engine.actions.base import invoke
from engine.actions.builtin import BUILTIN_SPECS
from engine.actions.builtin.core import ECHO, FAIL, LOG
from engine.actions.builtin.outbox import NOTIFY_OUTBOX
from engine.actions.errors import ActionError, ErrorCategory
from tests.unit.actions.support import LogRecorder, make_context


def test_builtins_are_the_five_version_one_actions() -> None:
    assert [(spec.name, spec.version) for spec in BUILTIN_SPECS] == [
        ("core.echo", 1),
        ("core.log", 1),
        ("core.fail", 1),
        ("http.request", 1),
        ("notify.outbox", 1),
    ]


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"a": 1, "nested": {"list": [1, "two", None, True, 2.5]}},
        # Keys that are BaseModel attribute names must come back too.
        {"json": {"x": 1}, "copy": "c", "model_config": 3, "schema": None},
    ],
)
async def test_echo_returns_its_input_unchanged(data: dict[str, Any]) -> None:
    assert await invoke(ECHO, make_context(), data) == data


async def test_log_records_a_line_at_the_given_level() -> None:
    recorder = LogRecorder()

    output = await invoke(LOG, make_context(log=recorder), {"message": "disk nearly full", "level": "warning"})

    assert output == {"logged": True}
    assert recorder.lines == [("warning", "disk nearly full")]


async def test_log_level_defaults_to_info() -> None:
    recorder = LogRecorder()

    await invoke(LOG, make_context(log=recorder), {"message": "hello"})

    assert recorder.lines == [("info", "hello")]


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"level": "info"}, "message"),
        ({"message": "m", "level": "fatal"}, "level"),
        ({"message": "m", "lvl": "info"}, "lvl"),
    ],
)
async def test_log_rejects_bad_input(data: dict[str, Any], path: str) -> None:
    recorder = LogRecorder()

    with pytest.raises(ActionError) as caught:
        await invoke(LOG, make_context(log=recorder), data)

    assert caught.value.category == ErrorCategory.VALIDATION
    assert f"{path}: " in caught.value.message
    assert recorder.lines == []


@pytest.mark.parametrize("category", ["NetworkError", "ValidationError", "MyCustomCategory"])
async def test_fail_raises_the_given_category_and_message(category: str) -> None:
    with pytest.raises(ActionError) as caught:
        await invoke(FAIL, make_context(), {"category": category, "message": "drill"})

    assert caught.value.category == category
    assert caught.value.message == "drill"
    assert caught.value.details is None


async def test_fail_category_defaults_to_action_error() -> None:
    with pytest.raises(ActionError) as caught:
        await invoke(FAIL, make_context(), {"message": "nope"})

    assert caught.value.category == "ActionError"


@pytest.mark.parametrize(("data", "path"), [({}, "message"), ({"category": "", "message": "m"}, "category")])
async def test_fail_rejects_bad_input(data: dict[str, Any], path: str) -> None:
    with pytest.raises(ActionError) as caught:
        await invoke(FAIL, make_context(), data)

    assert caught.value.category == ErrorCategory.VALIDATION
    assert f"{path}: " in caught.value.message


async def test_outbox_without_a_database_is_internal() -> None:
    with pytest.raises(ActionError) as caught:
        await invoke(NOTIFY_OUTBOX, make_context(), {"topic": "t", "payload": {}})

    assert caught.value.category == ErrorCategory.INTERNAL
    assert caught.value.message == "notify.outbox needs a database"


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"topic": "", "payload": {}}, "topic"),
        ({"topic": "t"}, "payload"),
        ({"topic": "t", "payload": [1]}, "payload"),
    ],
)
async def test_outbox_rejects_bad_input(data: dict[str, Any], path: str) -> None:
    with pytest.raises(ActionError) as caught:
        await invoke(NOTIFY_OUTBOX, make_context(), data)

    assert caught.value.category == ErrorCategory.VALIDATION
    assert f"{path}: " in caught.value.message
