"""Fuzz of every service entry point (issue 9, item 2) on the real embedded Postgres and Temporal.

Hostile values (NUL, lone surrogates, NaN/±Infinity, huge integers, deep nesting, very long strings,
control and bidi characters, objects where ids belong) are mixed with valid ones. Each call must either
succeed or raise a ``RunStudioError`` with a message, never anything else, and a refused call must not
add a row to the tenant's runs, events, definition versions, correlation rules, completed tasks or
audit trail. Examples are derandomized (the same in every CI run) and bounded per entry point; the
counts per entry point (examples, accepted, refused per rule) are printed at the end of the module.
"""

import contextlib
import copy
import itertools
import json
import math
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import RunStudioError
from engine.inbound import InboundRejected, check_json
from engine.services.audit import Actor
from engine.services.cancel import cancel_run, cancel_runs, select_cancelable
from engine.services.context import ServiceContext
from engine.services.export import export_run
from engine.services.ingress import get_correlation_rule, get_event, set_correlation_rule, submit_event
from engine.services.launch import launch_run
from engine.services.payloads import PayloadRejected, parse_payload_text
from engine.services.publish import publish_definition
from engine.services.replay import replay_run
from engine.services.runs import get_run, get_run_detail, list_runs
from engine.services.tasks import complete_task, get_task, list_open_tasks
from tests.helpers import example, publish_examples, wait_for_run, wait_until

ACTOR = Actor(user="fuzzer", source="local")
EXAMPLES_PER_ENTRY = 100

FUZZ = settings(
    max_examples=EXAMPLES_PER_ENTRY,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)

# -- hostile and valid values -----------------------------------------------------------------------

HOSTILE_STRINGS = [
    "",
    " ",
    "\x00",
    "ok\x00",
    "\ud800",
    "x\udfff",
    "\u202e",
    "evil\u202etxt.exe",
    "a\nb",
    "\x1b[31mred",
    "\x9b",
    "\x7f",
    "\u200b",
    "a" * 3000,
    "x" * 100_000,
    "é",
    "😀",
    "a b",
    "'; DROP TABLE workflow_runs; --",
    "%_",
    "00000000-0000-0000-0000-000000000000",
    "{00000000-0000-0000-0000-000000000000}",
]

# Hypothesis leaves out surrogates unless asked; lone ones are exactly what must be refused.
any_char = st.characters() | st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, categories=["Cs"])
hostile_strings = st.sampled_from(HOSTILE_STRINGS) | st.text(any_char, max_size=20)
hostile_numbers = (
    st.sampled_from([2**31, 2**31 - 1, 2**53, -(2**63), 10**400, math.nan, math.inf, -math.inf, -0.0, 1e308])
    | st.integers()
    | st.floats()
)


def nested(depth: int, wrap: str) -> Any:
    """``depth`` containers inside each other, built without recursion."""
    value: Any = 1
    for _ in range(depth):
        value = [value] if wrap == "list" else {"d": value}
    return value


deep_values = st.builds(nested, st.integers(min_value=60, max_value=3000), st.sampled_from(["list", "dict"]))
not_json = st.sampled_from([{1, 2}, b"bytes", (1, 2), object(), {1: "int key"}, {("t",): 1}, frozenset()])
json_scalars = st.none() | st.booleans() | hostile_numbers | hostile_strings
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(hostile_strings, children, max_size=3),
    max_leaves=12,
)
hostile_values = json_values | deep_values | not_json
valid_names = st.from_regex(r"[a-z][a-z0-9.\-]{0,15}", fullmatch=True)


def ids(known: list[str]) -> st.SearchStrategy[Any]:
    """Where an id belongs: known good ids, well-formed strangers, hostile strings, other types."""
    others = st.one_of(valid_names, hostile_strings, hostile_values)
    return st.one_of(st.sampled_from(known), others) if known else others


# -- bookkeeping --------------------------------------------------------------------------------------

STATS: dict[str, Counter[str]] = defaultdict(Counter)

COUNTED_ROWS = {
    "runs": "SELECT count(*) FROM workflow_runs WHERE tenant = $1",
    "events": "SELECT count(*) FROM workflow_runtime_events WHERE tenant = $1",
    "versions": "SELECT count(*) FROM workflow_definition_versions WHERE tenant = $1",
    "rules": "SELECT count(*) FROM workflow_event_correlation_rules WHERE tenant = $1",
    "completed_tasks": "SELECT count(*) FROM workflow_tasks WHERE tenant = $1 AND status = 'COMPLETED'",
    "audit": "SELECT count(*) FROM workflow_run_audit WHERE tenant = $1",
}


async def row_counts(ctx: ServiceContext) -> dict[str, int]:
    """What a refused call must not change: the rows only services write, for the tenant."""
    return {name: await ctx.pool.fetchval(sql, ctx.tenant) for name, sql in COUNTED_ROWS.items()}


def rule_of(exc: RunStudioError) -> str:
    if isinstance(exc, InboundRejected):
        return f"inbound:{exc.code}"
    return type(exc).__name__


async def attempt(ctx: ServiceContext, entry: str, call: Callable[[], Awaitable[Any]]) -> bool:
    """Run one call: success, or a ``RunStudioError`` with a message and no new row. Anything else fails."""
    before = await row_counts(ctx)
    STATS[entry]["examples"] += 1
    refusal: RunStudioError | None = None
    try:
        await call()
    except RunStudioError as exc:
        refusal = exc
    except BaseException:
        STATS[entry]["unexpected"] += 1
        raise
    if refusal is None:
        STATS[entry]["accepted"] += 1
        return True
    message = str(refusal)
    assert message.strip(), f"{entry}: {type(refusal).__name__} without a message"
    STATS[entry][f"refused {rule_of(refusal)}"] += 1
    STATS[entry]["refused"] += 1
    after = await row_counts(ctx)
    assert after == before, f"{entry} refused ({message[:300]}) but wrote rows: {before} -> {after}"
    return False


def coverage(entry: str, *, accepted: bool = True) -> None:
    """Both sides were exercised, so a rule that refused everything (or nothing) would fail here."""
    assert STATS[entry]["refused"] > 0, f"{entry}: nothing was refused: {dict(STATS[entry])}"
    if accepted:
        assert STATS[entry]["accepted"] > 0, f"{entry}: nothing was accepted: {dict(STATS[entry])}"


@pytest.fixture(scope="module", autouse=True)
def report(request: pytest.FixtureRequest) -> Iterator[None]:
    """Print the counts after the module, whatever the capture mode."""
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    lines = ["", "inbound fuzz: examples / accepted / refused per entry point"]
    for entry, counts in sorted(STATS.items()):
        rules = ", ".join(
            f"{k.removeprefix('refused ')}={v}" for k, v in sorted(counts.items()) if k.startswith("refused ")
        )
        tally = f"{counts['examples']} examples, {counts['accepted']} accepted, {counts['refused']} refused"
        lines.append(f"  {entry}: {tally} ({rules})")
    total = sum(c["examples"] for c in STATS.values())
    unexpected = sum(c["unexpected"] for c in STATS.values())
    lines.append(f"  total: {total} examples, {unexpected} exceptions outside RunStudioError")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
        for line in lines:
            if reporter is not None:
                reporter.write_line(line)
            else:  # pragma: no cover - only without the terminal reporter plugin
                print(line)


# -- the world the calls act on ------------------------------------------------------------------------


class World:
    """A tenant with published examples, a finished run and a run waiting on an OPEN human task."""

    def __init__(self, ctx: ServiceContext, done_run: str, task_run: str, task_id: str) -> None:
        self.ctx = ctx
        self.done_run = done_run
        self.task_run = task_run
        self.task_id = task_id


@pytest.fixture
async def world(services: ServiceContext) -> World:
    await publish_examples(services, "echo_chain", "human_task")
    done_run = await launch_run(services, workflow_id="echo-chain", payload={"ticket": {"id": 1}})
    await wait_for_run(services, done_run)
    task_run = await launch_run(services, workflow_id="human-task", payload={"customer": "ana"})
    tasks = await wait_until(lambda: list_open_tasks(services), what="the human task to open")
    return World(services, done_run, task_run, tasks[0].task_id)


# -- the fuzz, one test per entry point ---------------------------------------------------------------

DEFINITION_FIELDS: list[tuple[str | int, ...]] = [
    ("id",),
    ("version",),
    ("name",),
    ("description",),
    ("payloadSchema",),
    ("trigger",),
    ("trigger", "eventName"),
    ("steps",),
    ("steps", 0, "id"),
    ("steps", 0, "action"),
    ("steps", 0, "version"),
    ("steps", 0, "input", "note"),
    ("steps", 3, "output"),
]
version_counter = itertools.count(2)


def mutated(path: tuple[str | int, ...], value: Any, fresh_version: bool) -> Any:
    document: Any = copy.deepcopy(example("echo_chain"))
    if fresh_version:
        document["version"] = next(version_counter)
    if path == ("trigger", "eventName"):
        document["trigger"] = {"type": "event", "eventName": value}
        return document
    target = document
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return document


definitions = st.one_of(
    st.builds(mutated, st.sampled_from(DEFINITION_FIELDS), hostile_values | valid_names, st.booleans()),
    st.builds(lambda v: mutated(("version",), v, False), st.integers(min_value=2, max_value=2**31 - 1)),
    hostile_values,
)


@given(raw=definitions)
@FUZZ
async def test_publish_definition(world: World, raw: Any) -> None:
    await attempt(world.ctx, "publish_definition", lambda: publish_definition(world.ctx, raw))


def echo_payloads() -> st.SearchStrategy[Any]:
    valid = st.builds(lambda n, extra: {"ticket": {"id": n}, "extra": extra}, st.integers(0, 1000), json_values)
    return st.one_of(valid, st.just({"ticket": {"id": 7}}), hostile_values)


def arguments(
    data: st.DataObject, valid: dict[str, st.SearchStrategy[Any]], hostile: dict[str, st.SearchStrategy[Any]]
) -> dict[str, Any]:
    """Valid arguments but (usually) one hostile one, so every argument's checks are reached in turn."""
    focus = data.draw(st.sampled_from([*hostile, "all", "none"]), label="focus")
    drawn = {}
    for name in valid:
        hostile_here = focus == "all" or focus == name
        drawn[name] = data.draw(hostile[name] if hostile_here else valid[name], label=name)
    return drawn


hostile_payloads = hostile_values | st.builds(lambda extra: {"ticket": {"id": 1}, "extra": extra}, hostile_values)


@given(data=st.data())
@FUZZ
async def test_launch_run(world: World, data: st.DataObject) -> None:
    args = arguments(
        data,
        valid={
            "workflow_id": st.just("echo-chain"),
            "version": st.sampled_from([None, 1]),
            "payload": echo_payloads(),
        },
        hostile={
            "workflow_id": ids([]),
            "version": hostile_numbers | hostile_values,
            "payload": hostile_payloads,
        },
    )
    await attempt(world.ctx, "launch_run", lambda: launch_run(world.ctx, **args))


@given(data=st.data())
@FUZZ
async def test_replay_run(world: World, data: st.DataObject) -> None:
    args = arguments(
        data,
        valid={"run_id": st.just(world.done_run), "payload": st.one_of(st.none(), echo_payloads())},
        hostile={"run_id": ids([]), "payload": hostile_payloads},
    )
    await attempt(
        world.ctx, "replay_run", lambda: replay_run(world.ctx, args["run_id"], payload=args["payload"], actor=ACTOR)
    )


@given(data=st.data())
@FUZZ
async def test_submit_event(world: World, data: st.DataObject) -> None:
    args = arguments(
        data,
        valid={
            "name": st.sampled_from(["ticket.approved", "order.paid"]),
            "payload": st.just({"id": "T-1"}) | st.builds(lambda v: {"v": v}, json_values),
            "event_id": st.none() | valid_names,
            "correlation_key": st.sampled_from([None, "T-1", "Grüße ✓"]),
        },
        hostile={
            "name": ids([]),
            "payload": hostile_values,
            "event_id": hostile_strings | hostile_values,
            "correlation_key": hostile_strings | hostile_values,
        },
    )
    await attempt(
        world.ctx,
        "submit_event",
        lambda: submit_event(
            world.ctx,
            args["name"],
            args["payload"],
            event_id=args["event_id"],
            correlation_key=args["correlation_key"],
        ),
    )


@given(
    event_name=ids(["ticket.approved"]),
    expression=st.one_of(
        st.sampled_from(["payload.id", "$string(payload.n)", "payload.(", "$eval('1')", "(" * 3000 + ")" * 3000]),
        hostile_strings,
        hostile_values,
    ),
)
@FUZZ
async def test_set_correlation_rule(world: World, event_name: Any, expression: Any) -> None:
    await attempt(world.ctx, "set_correlation_rule", lambda: set_correlation_rule(world.ctx, event_name, expression))


@given(data=st.data())
@FUZZ
async def test_complete_task(world: World, data: st.DataObject) -> None:
    task_id = data.draw(ids([world.task_id]), label="task_id")
    response = data.draw(
        st.one_of(
            st.builds(lambda c: {"approved": True, "comment": c}, hostile_strings),
            st.just({"approved": False}),
            hostile_values,
        ),
        label="response",
    )
    await attempt(world.ctx, "complete_task", lambda: complete_task(world.ctx, task_id, response, actor=ACTOR))


@given(data=st.data())
@settings(FUZZ, max_examples=2 * EXAMPLES_PER_ENTRY)
async def test_cancel(world: World, data: st.DataObject) -> None:
    run_ids = st.lists(ids([world.done_run]), max_size=4)
    kind = data.draw(st.sampled_from(["one", "many", "select"]), label="kind")
    if kind == "one":
        run_id = data.draw(ids([world.done_run]), label="run_id")
        await attempt(world.ctx, "cancel_run", lambda: cancel_run(world.ctx, run_id, actor=ACTOR))
    elif kind == "many":
        many: Any = data.draw(run_ids | hostile_values, label="run_ids")
        await attempt(world.ctx, "cancel_runs", lambda: cancel_runs(world.ctx, many, actor=ACTOR))
    else:
        status = data.draw(st.one_of(st.none(), st.sampled_from(["SUCCEEDED", "FAILED"]), hostile_strings), label="s")
        workflow_id = data.draw(st.one_of(st.none(), ids(["echo-chain"])), label="workflow_id")
        await attempt(
            world.ctx, "select_cancelable", lambda: select_cancelable(world.ctx, status=status, workflow_id=workflow_id)
        )


@given(data=st.data())
@settings(FUZZ, max_examples=2 * EXAMPLES_PER_ENTRY)
async def test_reads(world: World, data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(["get_run", "get_run_detail", "list_runs", "get_event", "get_rule", "get_task"]))
    ctx = world.ctx
    if kind == "list_runs":
        # Valid choices are weighted up, so some calls pass every filter and reach the database.
        valid = data.draw(st.booleans(), label="valid")
        status: Any = data.draw(st.sampled_from([None, "SUCCEEDED"]) if valid else hostile_strings | hostile_values)
        workflow_id: Any = data.draw(st.sampled_from([None, "echo-chain"]) if valid else ids(["echo-chain"]))
        prefix: Any = data.draw(
            st.sampled_from([None, world.done_run[:4]]) if valid else hostile_strings | hostile_values
        )
        limit: Any = data.draw(st.just(10) if valid else hostile_numbers | hostile_values)
        await attempt(
            ctx,
            kind,
            lambda: list_runs(ctx, status=status, workflow_id=workflow_id, run_id_prefix=prefix, limit=limit),
        )
        return
    calls: dict[str, Callable[[Any], Awaitable[Any]]] = {
        "get_run": lambda v: get_run(ctx, v),
        "get_run_detail": lambda v: get_run_detail(ctx, v),
        "get_event": lambda v: get_event(ctx, v),
        "get_rule": lambda v: get_correlation_rule(ctx, v),
        "get_task": lambda v: get_task(ctx, v),
    }
    value = data.draw(ids([world.done_run, world.task_id, "ticket.approved"]), label="value")
    await attempt(ctx, kind, lambda: calls[kind](value))


@given(run_id=ids([]), valid=st.booleans(), where=st.none() | hostile_strings | st.just("/proc/no/such/dir"))
@FUZZ
async def test_export_run(world: World, tmp_path: Path, run_id: Any, valid: bool, where: str | None) -> None:
    target = world.done_run if valid else run_id
    # None: a good file; else a file named by a hostile string (NUL, too long, ...) or one that cannot be made.
    path = tmp_path / "export.json" if where is None else Path(where) if where.startswith("/") else tmp_path / where
    await attempt(world.ctx, "export_run", lambda: export_run(world.ctx, target, actor=ACTOR, path=path))


CLI_TEXTS = [
    '{"a": NaN}',
    '{"a": Infinity}',
    '{"a": -Infinity}',
    '{"a": "\\u0000"}',
    '{"a": "\\ud800"}',
    '{"a": 1' + "0" * 5000 + "}",
    "[" * 100_000 + "]" * 100_000,
    '{"a": ' + "[" * 100 + "]" * 100 + "}",
    "[]",
    "not json",
    '{"ticket": {"id": 3}}',
]


@given(
    text=st.sampled_from(CLI_TEXTS)
    | st.text(any_char, max_size=40)
    # Python's json writes NaN/Infinity and escapes lone surrogates: text other tools may well produce.
    | st.builds(lambda value: json.dumps({"v": value}), json_values)
)
@FUZZ
async def test_parse_payload_text(text: str) -> None:
    STATS["parse_payload_text"]["examples"] += 1
    value: Any = None
    message = ""
    try:
        value = parse_payload_text(text)
    except PayloadRejected as exc:
        message = str(exc)
    if value is None:
        assert message.strip()
        STATS["parse_payload_text"]["refused"] += 1
        STATS["parse_payload_text"]["refused PayloadRejected"] += 1
        return
    assert isinstance(value, dict)
    check_json(value, what="payload")  # what the CLI hands on is storable
    STATS["parse_payload_text"]["accepted"] += 1


COVERED = (
    "publish_definition",
    "launch_run",
    "replay_run",
    "submit_event",
    "set_correlation_rule",
    "complete_task",
    "parse_payload_text",
    "export_run",
    "cancel_run",
    "cancel_runs",
    "select_cancelable",
    "list_runs",
)


def test_every_entry_point_saw_both_sides() -> None:
    """Runs last in the module: every entry point fuzzed above refused something and accepted something."""
    assert STATS, "run the whole module: this test reads the counts of the fuzz tests above it"
    for entry in COVERED:
        if entry in STATS:  # with -k, only the entry points that were selected
            coverage(entry)
    assert sum(c["unexpected"] for c in STATS.values()) == 0
