"""Each inbound finding of issue 9 as a named case on real Postgres + Temporal: the message, and no row.

The fuzz (test_inbound_fuzz.py) shows no input escapes as another exception; these pin what the refusal
says (the JSON path and the rule) for each class the issue reproduced, and that nothing was written.
"""

import json
import math
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from engine.dsl.hashing import definition_hash
from engine.dsl.validate import DefinitionInvalid
from engine.errors import RunStudioError
from engine.inbound import MAX_DEPTH, InboundRejected
from engine.services.audit import Actor
from engine.services.cancel import cancel_runs, select_cancelable
from engine.services.context import ServiceContext
from engine.services.export import export_run
from engine.services.ingress import ingest_inbox_batch, set_correlation_rule, submit_event
from engine.services.launch import launch_run
from engine.services.payloads import PayloadRejected, parse_payload_text
from engine.services.publish import publish_definition
from engine.services.replay import replay_run
from engine.services.runs import RunNotFound, get_run, get_run_detail, list_runs
from engine.services.tasks import complete_task, list_open_tasks
from engine.store import definitions
from tests.conftest import cli_env
from tests.helpers import example, publish_examples, wait_for_run, wait_until
from tests.integration.test_cli import runstudio

ACTOR = Actor(user="tester", source="local")


def nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"d": value}
    return value


async def rows(ctx: ServiceContext) -> dict[str, int]:
    """Rows the tenant has in every table an inbound value could reach."""
    tables = [
        "workflow_runs",
        "workflow_runtime_events",
        "workflow_definition_versions",
        "workflow_event_correlation_rules",
        "workflow_run_audit",
    ]
    counts = {t: await ctx.pool.fetchval(f"SELECT count(*) FROM {t} WHERE tenant = $1", ctx.tenant) for t in tables}
    counts["completed_tasks"] = await ctx.pool.fetchval(
        "SELECT count(*) FROM workflow_tasks WHERE tenant = $1 AND status = 'COMPLETED'", ctx.tenant
    )
    return counts


@pytest.fixture
async def echo(services: ServiceContext) -> ServiceContext:
    await publish_examples(services, "echo_chain")
    return services


async def refused(ctx: ServiceContext, call: Any, kind: type[RunStudioError] = RunStudioError) -> str:
    """Await ``call``, expect ``kind``, check nothing was written, and return the message."""
    before = await rows(ctx)
    with pytest.raises(kind) as caught:
        await call
    assert await rows(ctx) == before, f"refused ({caught.value}) but rows changed"
    return str(caught.value)


# -- NUL, NaN/Infinity, lone surrogates ----------------------------------------------------------------


async def test_nul_in_a_payload_is_refused_naming_its_path(echo: ServiceContext) -> None:
    payload = {"ticket": {"id": 1}, "notes": ["fine", "bad\x00"]}
    message = await refused(echo, launch_run(echo, workflow_id="echo-chain", payload=payload), PayloadRejected)
    assert message == "payload refused at $.notes[1]: the string contains NUL (\\u0000), which cannot be stored"


async def test_nan_and_infinity_are_refused_in_payloads_and_in_cli_json(echo: ServiceContext) -> None:
    message = await refused(
        echo, launch_run(echo, workflow_id="echo-chain", payload={"ticket": {"id": 1}, "x": math.inf}), PayloadRejected
    )
    assert message == "payload refused at $.x: Infinity is not a JSON number (only finite numbers are)"
    for text, shown in (('{"a": NaN}', "NaN"), ('{"a": [-Infinity]}', "-Infinity"), ('{"a": Infinity}', "Infinity")):
        with pytest.raises(PayloadRejected, match=f"{shown} is not a JSON number"):
            parse_payload_text(text)


async def test_lone_surrogates_are_refused_in_event_payloads_and_keys(services: ServiceContext) -> None:
    message = await refused(services, submit_event(services, "order.paid", {"who": "\ud83d"}, event_id="e1"))
    assert message.startswith("event payload refused at $.who: the string contains a lone surrogate (\\ud83d)")
    message = await refused(services, submit_event(services, "order.paid", {"\udc00": 1}, event_id="e2"))
    assert message.startswith('event payload refused at $["\\udc00"]: the object key contains a lone surrogate')


async def test_an_expression_key_that_gives_nul_is_a_routing_error_not_a_crash(services: ServiceContext) -> None:
    await set_correlation_rule(services, "order.paid", '$base64decode("AA==")')
    outcome = await submit_event(services, "order.paid", {}, event_id="nul-key")
    assert outcome.outcome == "error" and outcome.correlation_key is None
    assert outcome.error is not None and "gave an unusable key" in outcome.error and "NUL" in outcome.error
    stored = await services.pool.fetchrow(
        "SELECT outcome, correlation_key, error FROM workflow_runtime_events WHERE tenant = $1 AND event_id = $2",
        services.tenant,
        "nul-key",
    )
    assert (stored["outcome"], stored["correlation_key"]) == ("error", None) and "NUL" in stored["error"]


# -- versions and ids that do not fit ------------------------------------------------------------------


async def test_versions_beyond_int32_are_refused_at_start_and_at_publish(echo: ServiceContext) -> None:
    message = await refused(echo, launch_run(echo, workflow_id="echo-chain", version=2**31, payload={}))
    assert message == "version refused at $: 2147483648 is outside 1..2147483647 (versions are int32)"
    definition = {**example("echo_chain"), "version": 2**31}
    message = await refused(echo, publish_definition(echo, definition), DefinitionInvalid)
    assert message == "$.version: 2147483648 is outside 1..2147483647 (versions are int32)"
    step = example("echo_chain")
    step["steps"][0]["version"] = 2**40
    message = await refused(echo, publish_definition(echo, {**step, "version": 2}), DefinitionInvalid)
    assert "$.steps[0].version: 1099511627776 is outside 1..2147483647" in message


async def test_ids_too_long_for_an_index_row_are_refused(services: ServiceContext) -> None:
    long_id = "w" * 3000
    message = await refused(services, publish_definition(services, {**example("echo_chain"), "id": long_id}))
    assert message == "$.id: is 3000 characters long; the limit is 200"
    message = await refused(services, submit_event(services, "order.paid", {}, event_id="e" * 5000))
    assert message == "event id refused at $: is 5000 characters long; the limit is 200"
    message = await refused(services, submit_event(services, "order.paid", {}, correlation_key="k" * 3000))
    assert message == "correlation key refused at $: is 3000 characters long; the limit is 500"
    message = await refused(services, get_run(services, "0" * 100_000), RunNotFound)
    assert message == "a run id is a UUID; this is 100000 characters long; `runstudio runs` lists them"


async def test_control_and_bidi_characters_cannot_enter_names(services: ServiceContext) -> None:
    definition = example("echo_chain")
    definition["id"] = "echo\nchain"
    definition["steps"][1]["id"] = "count\u202e"
    message = await refused(services, publish_definition(services, definition), DefinitionInvalid)
    assert "$.id: contains the control character U+000A at position 4" in message
    assert "$.steps[1].id: contains the bidi control U+202E at position 5" in message
    message = await refused(services, submit_event(services, "order paid", {}))
    assert message.startswith("event name refused at $: 'order paid' has ' ' at position 5; use ASCII letters")
    message = await refused(services, set_correlation_rule(services, "order.paid", "payload.id\x00"))
    assert message == "correlation rule refused at $: the text contains NUL (\\u0000), which cannot be stored"
    await set_correlation_rule(services, "order.paid", "payload.(\n  id\n)")  # an expression may span lines


async def test_a_definition_published_before_the_name_rules_still_starts_and_runs(services: ServiceContext) -> None:
    """The rules guard what comes in; what is already stored (ids with spaces, say) keeps working."""
    legacy = example("echo_chain")
    legacy["id"] = "legacy echo"
    legacy["steps"][1]["id"] = "count it"
    async with services.pool.acquire() as conn:
        await definitions.insert_version(
            conn,
            tenant=services.tenant,
            workflow_id=legacy["id"],
            version=1,
            name=legacy["name"],
            definition=legacy,
            definition_hash=definition_hash(legacy),
            trigger_type="manual",
            trigger_event_name=None,
            published_by="before-the-rules",
        )
    run_id = await launch_run(services, workflow_id="legacy echo", payload={"ticket": {"id": 41}})
    detail = await wait_for_run(services, run_id)
    assert detail.status == "SUCCEEDED" and detail.output == {"label": "T-42"}
    assert [s.step_id for s in detail.steps] == ["greet", "count it", "log", "done"]
    assert [r.run_id for r in await list_runs(services, workflow_id="legacy echo")] == [run_id]
    # Republishing it as it is would be refused, naming both ids.
    message = await refused(services, publish_definition(services, {**legacy, "version": 2}), DefinitionInvalid)
    assert "$.id: 'legacy echo' has ' ' at position 6" in message and "$.steps[1].id: 'count it'" in message


# -- deep nesting ----------------------------------------------------------------------------------


async def test_deep_nesting_is_refused_without_recursion_error(echo: ServiceContext) -> None:
    deep = {"ticket": {"id": 1}, "tree": nested(100_000)}
    message = await refused(echo, launch_run(echo, workflow_id="echo-chain", payload=deep), PayloadRejected)
    assert message.startswith("payload refused at $.tree.d.d.") and message.endswith(
        f"nested deeper than {MAX_DEPTH} levels (the documented limit)"
    )
    definition = {**example("echo_chain"), "version": 2, "description": "x"}
    definition["steps"][0]["input"]["note"] = nested(300)
    message = await refused(echo, publish_definition(echo, definition), InboundRejected)
    assert message.startswith("definition refused at $.steps[0].input.note.d.d.")
    with pytest.raises(PayloadRejected, match="nested too deeply to read"):
        parse_payload_text("[" * 100_000 + "]" * 100_000)


async def test_deep_task_responses_and_replay_payloads_are_refused(services: ServiceContext) -> None:
    await publish_examples(services, "human_task", "echo_chain")
    run_id = await launch_run(services, workflow_id="human-task", payload={"customer": "ana"})
    task = (await wait_until(lambda: list_open_tasks(services), what="the task"))[0]
    message = await refused(services, complete_task(services, task.task_id, {"approved": nested(500)}, actor=ACTOR))
    assert message.startswith("task response refused at $.approved.d.d.")
    message = await refused(
        services, complete_task(services, task.task_id, {"approved": True, "comment": "ok\x00"}, actor=ACTOR)
    )
    assert message == "task response refused at $.comment: the string contains NUL (\\u0000), which cannot be stored"
    assert (await list_open_tasks(services))[0].task_id == task.task_id  # still OPEN, no decision recorded
    done = await launch_run(services, workflow_id="echo-chain", payload={"ticket": {"id": 4}})
    await wait_for_run(services, done)
    message = await refused(services, replay_run(services, done, payload={"x": nested(200)}, actor=ACTOR))
    assert "payload refused at $.x.d." in message
    assert (await get_run_detail(services, run_id)).status == "WAITING"


# -- objects where ids belong --------------------------------------------------------------------------


async def test_objects_where_ids_belong_are_refused_not_type_errors(echo: ServiceContext) -> None:
    message = await refused(echo, launch_run(echo, workflow_id={"id": "echo-chain"}, payload={}))  # type: ignore[arg-type]
    assert message == "workflow id refused at $: must be a string, got a dict"
    message = await refused(echo, get_run(echo, ["not", "an", "id"]), RunNotFound)  # type: ignore[arg-type]
    assert message == "a run id must be text (a UUID), got list"
    message = await refused(echo, cancel_runs(echo, [str(uuid.uuid4()), {"x": 1}], actor=ACTOR))  # type: ignore[list-item]
    assert message == "run ids refused at $[1]: a run id must be text (a UUID), got dict"
    message = await refused(echo, publish_definition(echo, {**example("echo_chain"), "id": {"x": 1}}))
    assert message == "$.id: Input should be a valid string"
    message = await refused(echo, select_cancelable(echo, status="STUCK", workflow_id=None))
    assert message.startswith("status filter refused at $: unknown status 'STUCK'; use one of")
    message = await refused(echo, list_runs(echo, workflow_id="echo\x00"))
    assert message == "workflow id filter refused at $: the text contains NUL (\\u0000), which cannot be stored"


async def test_export_to_a_path_that_cannot_be_written_is_refused_and_not_audited(
    echo: ServiceContext, tmp_path: Path
) -> None:
    run_id = await launch_run(echo, workflow_id="echo-chain", payload={"ticket": {"id": 5}})
    await wait_for_run(echo, run_id)
    message = await refused(echo, export_run(echo, run_id, actor=ACTOR, path=tmp_path / "a\x00b.json"))
    assert message == "export path refused at $: the text contains NUL (\\u0000), which cannot be stored"
    message = await refused(echo, export_run(echo, run_id, actor=ACTOR, path=tmp_path / ("n" * 300 + ".json")))
    assert message.startswith(f"cannot write the export of run {run_id} to ") and "File name too long" in message
    written = await export_run(echo, run_id, actor=ACTOR, path=tmp_path / "ok.json")
    assert json.loads(written.read_text())["run"]["run_id"] == run_id


# -- the inbox and the CLI -----------------------------------------------------------------------------

ENQUEUE = """
INSERT INTO workflow_event_inbox (tenant, event_id, event_name, payload, correlation_key)
VALUES ($1, $2, $3, $4, $5)
"""


DEEPER = 12_000
"""Deeper than Python's json decodes (its recursion limit), shallower than Postgres's jsonb accepts (~14k)."""

UNREADABLE = """
INSERT INTO workflow_event_inbox (tenant, event_id, event_name, payload) VALUES ($1, $2, 'order.paid', $3::text::jsonb)
"""


async def test_an_inbox_row_with_a_bad_value_is_parked_with_the_reason(services: ServiceContext) -> None:
    pool, tenant = services.pool, services.tenant
    await pool.execute(ENQUEUE, tenant, "bad-name", "order\u202epaid", {}, None)
    await pool.execute(ENQUEUE, tenant, "bad-number", "order.paid", {"n": 2**60}, None)
    await pool.execute(ENQUEUE, tenant, "bad-depth", "order.paid", nested(100), None)
    await pool.execute(ENQUEUE, tenant, "bad-key", "order.paid", {}, "k\x01")
    # Rows Python cannot even decode: past its recursion limit, an integer of 5000 digits.
    assert sys.getrecursionlimit() < DEEPER
    await pool.execute(UNREADABLE, tenant, "unreadable-depth", '{"d":' * DEEPER + "1" + "}" * DEEPER)
    await pool.execute(UNREADABLE, tenant, "unreadable-int", '{"n": 1' + "0" * 5000 + "}")
    await pool.execute(ENQUEUE, tenant, "good", "order.paid", {"n": 1}, "k")
    handled = await ingest_inbox_batch(services.for_tenant, pool)
    assert handled == 7
    parked = {
        r["event_id"]: r
        for r in await pool.fetch(
            "SELECT event_id, processed_at, attempts, last_error FROM workflow_event_inbox WHERE tenant = $1", tenant
        )
    }
    expected = {
        "bad-name": "event name refused at $: contains the bidi control U+202E",
        "bad-number": "event payload refused at $.n: integer 1152921504606846976 is outside ±(2^53 - 1)",
        "bad-depth": "event payload refused at $.d.d.",
        "bad-key": "correlation key refused at $: contains the control character U+0001",
        "unreadable-depth": "the payload cannot be read: RecursionError",
        "unreadable-int": "the payload cannot be read: ValueError: Exceeds the limit (4300 digits)",
    }
    for event_id, reason in expected.items():
        row = parked[event_id]
        assert row["processed_at"] is not None and row["attempts"] == 1, event_id
        assert row["last_error"].startswith(reason), row["last_error"]
    assert parked["good"]["last_error"] is None and parked["good"]["processed_at"] is not None
    recorded = await pool.fetch("SELECT event_id FROM workflow_runtime_events WHERE tenant = $1", tenant)
    assert [r["event_id"] for r in recorded] == ["good"]


async def test_cli_start_refuses_nan_and_nul_with_exit_1_and_no_run(echo: ServiceContext, tmp_path: Path) -> None:
    env = cli_env(
        RUNSTUDIO_DATABASE_URL=echo.endpoints.database_url,
        TEMPORAL_ADDRESS=echo.endpoints.temporal_address,
        TEMPORAL_NAMESPACE="default",
    )
    tenant = ("--tenant", echo.tenant)
    before = await rows(echo)
    nan = runstudio(*tenant, "start", "echo-chain", "--payload", '{"ticket": {"id": NaN}}', env=env)
    assert nan.returncode == 2 and "NaN is not a JSON number" in nan.stderr and "Traceback" not in nan.stderr
    payload = tmp_path / "payload.json"
    payload.write_text(json.dumps({"ticket": {"id": 1}, "note": "a\u0000b"}))
    nul = runstudio(*tenant, "start", "echo-chain", "--payload", f"@{payload}", env=env)
    assert nul.returncode == 1 and "payload refused at $.note: the string contains NUL" in nul.stderr
    big = runstudio(*tenant, "start", "echo-chain", "--version", str(2**31), "--payload", "{}", env=env)
    assert big.returncode == 1 and "version refused at $: 2147483648 is outside 1..2147483647" in big.stderr
    assert nul.stdout == nan.stdout == big.stdout == ""
    assert await rows(echo) == before
    ok = runstudio(*tenant, "start", "echo-chain", "--payload", '{"ticket": {"id": 2}}', env=env)
    assert ok.returncode == 0, ok.stderr  # the same command with a good payload does start a run
    assert (await rows(echo))["workflow_runs"] == before["workflow_runs"] + 1
