"""One id everywhere: a unique prefix of a run id (6+ hex characters) names the run in every command.

Resolution happens once, in ``engine.services.runs.resolve_run_id``, over a primary-key range scan; these
tests drive it directly (tenant scope, ambiguity, the refusals) and through the CLI commands that take a
run id (``show``, ``replay``, ``export``, ``cancel``) against real Postgres and Temporal.
"""

import json
from pathlib import Path

import pytest

from engine.services.context import ServiceContext
from engine.services.launch import launch_run
from engine.services.runs import RunIdAmbiguous, RunNotFound, resolve_run_id, run_id_range
from engine.store import definitions, runs
from tests.conftest import services_env
from tests.helpers import publish_examples, runstudio, wait_for_run

SHARED = [f"abcdef{n:02d}-0000-4000-8000-000000000000" for n in range(6)]
"""Six runs whose ids share the prefix ``abcdef`` (and a seventh below shares ``abcdef05``)."""
TWIN = "abcdef05-1111-4000-8000-000000000000"


@pytest.fixture
def env(services: ServiceContext) -> dict[str, str]:
    return services_env(services)


async def _seed(services: ServiceContext, run_ids: list[str], *, tenant: str | None = None) -> None:
    """Rows with chosen ids (no Temporal execution: resolution reads only the read-model)."""
    version = await definitions.get_version(services.pool, tenant=services.tenant, workflow_id="echo-chain", version=1)
    assert version is not None
    for run_id in run_ids:
        await runs.insert_run(
            services.pool,
            tenant=tenant or services.tenant,
            run_id=run_id,
            version=version,
            payload={"ticket": {"id": 1}},
            trigger="manual",
            keyring=services.keyring,
        )


def test_the_prefix_range_is_exact_and_refuses_what_cannot_start_a_uuid() -> None:
    assert run_id_range("ABCDEF") == ("abcdef00-0000-0000-0000-000000000000", "abcdefff-ffff-ffff-ffff-ffffffffffff")
    assert run_id_range("abcdef01-00") == (
        "abcdef01-0000-0000-0000-000000000000",
        "abcdef01-00ff-ffff-ffff-ffffffffffff",
    )
    assert run_id_range("abcdef01-") == run_id_range("abcdef01")
    assert run_id_range("abcd-ef01") is None  # a dash where a UUID has none
    assert run_id_range("abcdeg") is None
    assert run_id_range("%") is None and run_id_range("") is None
    assert run_id_range("a" * 33) is None


async def test_a_unique_prefix_resolves_in_any_spelling(services: ServiceContext) -> None:
    await publish_examples(services, "echo_chain")
    run_id = await launch_run(services, workflow_id="echo-chain", payload={"ticket": {"id": 1}})
    for spelling in (run_id[:6], run_id[:8], run_id[:8].upper(), run_id[:11], f" {run_id[:13]} ", run_id):
        assert await resolve_run_id(services, spelling) == run_id, spelling
    assert await resolve_run_id(services, "{" + run_id.upper() + "}") == run_id
    assert await resolve_run_id(services, run_id.replace("-", "")) == run_id


async def test_an_ambiguous_prefix_is_refused_with_candidates_and_their_workflow_and_status(
    services: ServiceContext,
) -> None:
    await publish_examples(services, "echo_chain")
    await _seed(services, [*SHARED, TWIN])

    with pytest.raises(RunIdAmbiguous) as many:
        await resolve_run_id(services, "abcdef")
    assert [c.run_id for c in many.value.candidates] == SHARED[:5]
    assert "matches more than 5 runs" in str(many.value)
    assert f"{SHARED[0]} (echo-chain, RUNNING)" in str(many.value)

    with pytest.raises(RunIdAmbiguous) as two:
        await resolve_run_id(services, "ABCDEF05")
    assert [c.run_id for c in two.value.candidates] == [SHARED[5], TWIN]
    assert "matches 2 runs" in str(two.value)
    assert isinstance(two.value, RunNotFound)  # every caller that handles "no such run" handles this too

    assert await resolve_run_id(services, "abcdef05-1") == TWIN
    assert await resolve_run_id(services, "abcdef03") == SHARED[3]


async def test_unknown_short_and_malformed_ids_are_refused_clearly(services: ServiceContext) -> None:
    await publish_examples(services, "echo_chain")
    await _seed(services, ["abcdef99-0000-4000-8000-000000000000"], tenant=f"{services.tenant}-other")
    refusals = {
        "abcdef99": f"no run id starting with abcdef99 for tenant {services.tenant!r}",  # other tenant's run
        "abcde": "run id prefix 'abcde' is too short: give at least 6 hex characters",
        "not-a-uuid": "'not-a-uuid' is not a run id (a UUID, or a prefix of at least 6 hex characters)",
        "abcd-ef01": "'abcd-ef01' is not a run id",
        "abcdef%": "'abcdef%' is not a run id",
        "00000000-0000-0000-0000-000000000000": "no run 00000000-0000-0000-0000-000000000000 for tenant",
    }
    for text, message in refusals.items():
        with pytest.raises(RunNotFound) as refused:
            await resolve_run_id(services, text)
        assert message in str(refused.value), (text, str(refused.value))
        assert not isinstance(refused.value, RunIdAmbiguous)
    with pytest.raises(RunNotFound, match="this is 65 characters long"):
        await resolve_run_id(services, "a" * 65)


async def test_the_prefix_lookup_is_a_primary_key_range_scan(services: ServiceContext) -> None:
    lowest, highest = run_id_range("abcdef05") or ("", "")
    async with services.pool.acquire() as conn, conn.transaction():
        # A tiny table is cheapest to scan whole; forbid that, so the plan shows whether the index can serve.
        await conn.execute("SET LOCAL enable_seqscan = off")
        await conn.execute("SET LOCAL enable_bitmapscan = off")
        plan = "\n".join(
            row[0] for row in await conn.fetch(f"EXPLAIN {runs.RESOLVE_PREFIX}", services.tenant, lowest, highest, 6)
        )
    assert "Index" in plan and "workflow_runs_pkey" in plan, plan
    assert "Index Cond" in plan and "run_id >=" in plan and "run_id <=" in plan, plan
    assert "Filter" not in plan, plan


async def test_every_cli_command_that_takes_a_run_id_accepts_its_prefix(
    services: ServiceContext, env: dict[str, str], tmp_path: Path
) -> None:
    tenant = ["--tenant", services.tenant]
    await publish_examples(services, "echo_chain", "timer")
    done = await launch_run(services, workflow_id="echo-chain", payload={"ticket": {"id": 4}})
    waiting = await launch_run(services, workflow_id="timer", payload={"waitMs": 600_000})
    await wait_for_run(services, done)
    await wait_for_run(services, waiting, frozenset({"WAITING"}))

    shown = runstudio(*tenant, "show", done[:8], "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["run_id"] == done and json.loads(shown.stdout)["status"] == "SUCCEEDED"

    text = runstudio(*tenant, "show", done[:6].upper(), env=env)
    assert text.returncode == 0 and f"run       {done}" in text.stdout

    replayed = runstudio(*tenant, "replay", done[:8], env=env)
    assert replayed.returncode == 0, replayed.stderr
    replay = json.loads(replayed.stdout)
    assert replay["replay_of"] == done and replay["run_id"] != done
    replay_row = await runs.get(services.pool, tenant=services.tenant, run_id=replay["run_id"])
    assert replay_row is not None and replay_row.trigger == "replay"
    assert replay_row.input == {"ticket": {"id": 4}}

    target = tmp_path / "out" / "done.json"
    exported = runstudio(*tenant, "export", done[:13], "-o", str(target), "--json", env=env)
    assert exported.returncode == 0, exported.stderr
    assert json.loads(exported.stdout) == {"run_id": done, "path": str(target.resolve())}
    assert json.loads(target.read_text())["run"]["run_id"] == done

    canceled = runstudio(*tenant, "cancel", waiting[:8], "--json", env=env)
    assert canceled.returncode == 0, canceled.stderr
    [outcome] = json.loads(canceled.stdout)
    assert outcome["run_id"] == waiting and outcome["outcome"] == "canceled"
    assert outcome["status_before"] == "WAITING"
    assert (await wait_for_run(services, waiting)).status == "CANCELED"


async def test_the_cli_refuses_an_ambiguous_prefix_with_one_line_and_changes_nothing(
    services: ServiceContext, env: dict[str, str]
) -> None:
    tenant = ["--tenant", services.tenant]
    await publish_examples(services, "echo_chain")
    await _seed(services, [SHARED[5], TWIN])
    before = await services.pool.fetchval("SELECT count(*) FROM workflow_runs WHERE tenant = $1", services.tenant)

    for command in (["show", "abcdef05"], ["cancel", "abcdef05", "--yes"], ["replay", "abcdef05"]):
        result = runstudio(*tenant, *command, env=env)
        assert result.returncode == 1, (command, result.stderr)
        assert result.stdout == ""
        [line] = result.stderr.splitlines()
        assert line.startswith("error: run id prefix abcdef05 matches 2 runs; give more characters of one of: ")
        assert f"{SHARED[5]} (echo-chain, RUNNING)" in line and f"{TWIN} (echo-chain, RUNNING)" in line

    unknown = runstudio(*tenant, "export", "fedcba98", env=env)
    assert unknown.returncode == 1
    assert unknown.stderr.splitlines() == [
        f"error: no run id starting with fedcba98 for tenant {services.tenant!r}; `runstudio runs` lists them"
    ]
    after = await services.pool.fetchval("SELECT count(*) FROM workflow_runs WHERE tenant = $1", services.tenant)
    assert after == before  # no replay was started
    assert not await services.pool.fetchval(
        "SELECT count(*) FROM workflow_runs WHERE tenant = $1 AND cancel_requested_at IS NOT NULL", services.tenant
    )
