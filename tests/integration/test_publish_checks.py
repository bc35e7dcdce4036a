"""Publish-time checks on real services: expressions call only functions, and self-calling definitions warn."""

import json
import re
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.dsl.validate import DefinitionInvalid, Problem
from engine.services.context import ServiceContext
from engine.services.launch import launch_run
from engine.services.publish import publish_definition
from tests.conftest import services_env
from tests.helpers import wait_for_run

ISO_MILLIS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
DEPTH_NOTE = "runs stop at child depth 16 with ChildDepthExceeded"


def definition(workflow_id: str, *steps: dict[str, Any], version: int = 1) -> dict[str, Any]:
    return {"id": workflow_id, "version": version, "name": workflow_id.title(), "steps": list(steps)}


def call(step_id: str, workflow_id: str, version: int | str = "latest") -> dict[str, Any]:
    return {"id": step_id, "type": "control.callWorkflow", "workflowId": workflow_id, "workflowVersion": version}


def guarded(step_id: str, *then: dict[str, Any]) -> dict[str, Any]:
    """A recursion guard: the call happens only while the payload asks for more depth."""
    return {"id": step_id, "type": "control.if", "condition": {"$expr": "payload.depth > 0"}, "then": list(then)}


async def versions_of(services: ServiceContext, workflow_id: str) -> list[int]:
    rows = await services.pool.fetch(
        "SELECT version FROM workflow_definition_versions WHERE tenant = $1 AND workflow_id = $2 ORDER BY version",
        services.tenant,
        workflow_id,
    )
    return [row["version"] for row in rows]


class TestExpressionsCallOnlyFunctions:
    async def test_now_iso_written_bare_publishes_and_runs_on_the_workflow_clock(
        self, services: ServiceContext
    ) -> None:
        raw = definition(
            "clock",
            {"id": "stamp", "type": "state.assign",
             "assign": {"vars.bare": {"$expr": "nowIso()"}, "vars.dollar": {"$expr": "$nowIso()"},
                        "vars.same": {"$expr": "nowIso() = $nowIso() and $toMillis(nowIso()) = $millis()"}}},
        )  # fmt: skip
        published = await publish_definition(services, raw)
        assert published.created and published.warnings == []

        run_id = await launch_run(services, workflow_id="clock", payload={})
        done = await wait_for_run(services, run_id)

        assert done.status == "SUCCEEDED", done.error
        bare, dollar = done.vars["bare"], done.vars["dollar"]
        assert ISO_MILLIS.match(bare), bare
        # One workflow task evaluates both, and workflow.now() is fixed within a task.
        assert bare == dollar and done.vars["same"] is True
        stamped = datetime.fromisoformat(bare)
        assert done.started_at - timedelta(seconds=1) <= stamped <= done.started_at + timedelta(seconds=30)
        assert [(s.step_id, s.status) for s in done.steps] == [("stamp", "SUCCEEDED")]

    async def test_a_call_of_a_bare_name_is_refused_with_the_path_and_a_suggestion(
        self, services: ServiceContext
    ) -> None:
        raw = definition(
            "totals",
            {"id": "sum", "type": "state.assign", "assign": {"vars.total": {"$expr": "sum([1, 2])"}}},
            {"id": "log", "type": "action.call", "action": "core.log", "version": 1,
             "input": {"message": {"$expr": "$upercase('done')"}}},
        )  # fmt: skip
        with pytest.raises(DefinitionInvalid) as caught:
            await publish_definition(services, raw)

        assert caught.value.problems == [
            Problem(
                '$.steps[0].assign["vars.total"]',
                "expression 'sum([1, 2])': sum() is not a function: a name without $ reads a field of the input; "
                "did you mean $sum?",
            ),
            Problem(
                "$.steps[1].input.message",
                "expression \"$upercase('done')\": $upercase() is not a known function; did you mean $uppercase?",
            ),
        ]
        assert await versions_of(services, "totals") == []


class TestSelfCallWarnings:
    async def test_a_definition_that_calls_itself_directly_is_published_with_a_warning(
        self, services: ServiceContext
    ) -> None:
        raw = definition("countdown", guarded("more", call("again", "countdown")))

        published = await publish_definition(services, raw)

        assert published.created
        assert published.warnings == [f"root.steps[0].then[0]: can call itself (countdown → countdown); {DEPTH_NOTE}"]
        assert await versions_of(services, "countdown") == [1]

    async def test_a_cycle_through_another_published_definition_is_named(self, services: ServiceContext) -> None:
        noop = {"id": "noop", "type": "state.assign", "assign": {"vars.x": 1}}
        assert (await publish_definition(services, definition("a", noop))).warnings == []
        b = await publish_definition(services, definition("b", guarded("more", call("back", "a"))))
        assert b.warnings == []  # a v1 calls nothing

        a2 = await publish_definition(
            services, definition("a", {"id": "first", "type": "state.assign", "assign": {"vars.x": 1}},
                                 call("to-b", "b"), version=2)
        )  # fmt: skip

        assert a2.warnings == [f"root.steps[1]: can call itself (a → b → a); {DEPTH_NOTE}"]
        assert await versions_of(services, "a") == [1, 2]

    async def test_a_pinned_version_that_does_not_call_back_gives_no_warning(self, services: ServiceContext) -> None:
        await publish_definition(services, definition("a", {"id": "noop", "type": "state.assign", "assign": {}}))
        await publish_definition(services, definition("b", call("back", "a", 1)))

        a2 = await publish_definition(services, definition("a", call("to-b", "b"), version=2))

        # b pins a v1, which calls nothing: a v2 cannot reach itself.
        assert a2.warnings == []

    async def test_the_cycle_check_reads_only_the_publishing_tenant(
        self, services: ServiceContext, other_tenant: ServiceContext
    ) -> None:
        await publish_definition(other_tenant, definition("a", {"id": "noop", "type": "state.assign", "assign": {}}))
        await publish_definition(other_tenant, definition("b", call("back", "a")))
        await publish_definition(services, definition("b", {"id": "noop", "type": "state.assign", "assign": {}}))

        mine = await publish_definition(services, definition("a", call("to-b", "b")))
        theirs = await publish_definition(other_tenant, definition("a", call("to-b", "b"), version=2))

        assert mine.warnings == []
        assert theirs.warnings == [f"root.steps[0]: can call itself (a → b → a); {DEPTH_NOTE}"]

    def test_the_cli_prints_each_warning_to_stderr_and_lists_them_in_json(
        self, services: ServiceContext, tmp_path: Path
    ) -> None:
        file = tmp_path / "self.json"
        file.write_text(json.dumps(definition("loop", guarded("more", call("again", "loop")))))
        env = services_env(services)

        result = subprocess.run(
            [sys.executable, "-c", "from runstudio.cli import main; main()",
             "--tenant", services.tenant, "publish", str(file), "--json"],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip

        warning = f"root.steps[0].then[0]: can call itself (loop → loop); {DEPTH_NOTE}"
        assert result.returncode == 0, result.stderr
        assert result.stderr.splitlines() == [f"warning: {warning}"]
        doc = json.loads(result.stdout)
        assert doc["workflow_id"] == "loop" and doc["created"] is True
        assert doc["warnings"] == [warning]


@pytest.fixture
def other_tenant(services: ServiceContext) -> ServiceContext:
    return replace(services, tenant=f"{services.tenant}-other")
