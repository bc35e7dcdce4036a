"""docker-compose.yaml has the services, health checks and ordering a deployment relies on."""

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yaml"


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def strings(value: Any) -> list[str]:
    """Every key and scalar in the document (comments are not data)."""
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [str(k), *strings(v)]]
    if isinstance(value, list):
        return [s for item in value for s in strings(item)]
    return [str(value)]


def test_the_stack_has_every_service() -> None:
    assert set(compose()["services"]) >= {"postgres", "temporal", "temporal-ui", "migrate", "worker", "studio"}


def test_postgres_and_temporal_are_health_checked_and_persistent() -> None:
    services = compose()["services"]
    assert "pg_isready" in " ".join(strings(services["postgres"]["healthcheck"]["test"]))
    assert any(v.endswith(":/var/lib/postgresql/data") for v in services["postgres"]["volumes"])
    temporal_check = " ".join(strings(services["temporal"]["healthcheck"]["test"]))
    assert "cluster health" in temporal_check
    # auto-setup registers the namespace after the server is up: healthy must wait for it too.
    assert "namespace describe --namespace default" in temporal_check
    assert services["temporal"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["temporal-ui"]["depends_on"]["temporal"]["condition"] == "service_healthy"


def test_migrations_run_once_before_any_worker() -> None:
    services = compose()["services"]
    migrate = services["migrate"]
    assert migrate["command"] == ["migrate"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("worker", "studio"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert services[name]["depends_on"]["temporal"]["condition"] == "service_healthy"


def test_worker_and_studio_share_one_image_and_the_worker_scales() -> None:
    services = compose()["services"]
    worker, studio = services["worker"], services["studio"]
    assert worker["image"] == studio["image"] == services["migrate"]["image"]
    assert worker["build"] == studio["build"] == "."
    # A fixed container name or a published host port would stop `--scale worker=N`.
    assert "container_name" not in worker
    assert "ports" not in worker
    metrics_port = worker["environment"]["RUNSTUDIO_METRICS_PORT"]
    assert f":{metrics_port}/healthz" in " ".join(strings(worker["healthcheck"]["test"]))
    assert worker["environment"]["RUNSTUDIO_LOG_FORMAT"] == "json"
    assert studio["command"] == ["tui"]
    assert studio["tty"] is True and studio["stdin_open"] is True


def test_every_runstudio_service_points_at_the_compose_postgres_and_temporal() -> None:
    services = compose()["services"]
    for name in ("migrate", "worker", "studio"):
        env = services[name]["environment"]
        assert (
            env["RUNSTUDIO_DATABASE_URL"].startswith("postgresql://")
            and "@postgres:5432/" in env["RUNSTUDIO_DATABASE_URL"]
        )
        assert env["TEMPORAL_ADDRESS"] == "temporal:7233"
        assert env["TEMPORAL_NAMESPACE"] == "default"
    assert services["temporal-ui"]["environment"]["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert "studio" in services["studio"]["profiles"]  # `docker compose up` must not start a TUI without a TTY


def test_no_task_queue_can_be_configured_anywhere() -> None:
    assert not [s for s in strings(compose()) if "queue" in s.lower()]
    assert "queue" not in (ROOT / "Dockerfile").read_text().lower()


def test_the_dockerfile_runs_as_a_non_root_user_without_build_tools() -> None:
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    final_stage = lines[max(i for i, line in enumerate(lines) if line.startswith("FROM")) :]
    assert any(line.startswith("USER ") and "root" not in line for line in final_stage)
    assert not any("apt-get install" in line or "gcc" in line for line in final_stage)
    assert any(line.startswith("COPY --from=build") for line in final_stage)
    # The venv is made by `uv venv` (no pip inside) and uv itself stays in the build stage.
    assert any("uv venv /opt/runstudio" in line for line in lines)
    assert not any("pip install" in line for line in final_stage)
    assert 'ENTRYPOINT ["runstudio"]' in final_stage


def test_docker_compose_accepts_the_file_where_it_is_installed() -> None:
    """Structure is asserted above on every machine; this adds docker-compose's own check where it exists."""
    tool = shutil.which("docker-compose")
    if tool is None:
        return
    result = subprocess.run([tool, "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_the_worker_gets_longer_than_its_own_shutdown_bound() -> None:
    from worker.main import GRACEFUL_SHUTDOWN

    grace = compose()["services"]["worker"]["stop_grace_period"]
    assert grace.endswith("s")
    # The worker ends within its grace period plus a few seconds; Docker must not SIGKILL it earlier.
    assert int(grace[:-1]) >= GRACEFUL_SHUTDOWN.total_seconds() + 5


def test_temporal_holds_polls_as_briefly_as_the_worker_freshness_window_needs() -> None:
    from engine.temporal import LONG_POLL_EXPIRATION

    temporal = compose()["services"]["temporal"]
    mounted = {volume.split(":")[1]: volume.split(":")[0] for volume in temporal["volumes"]}
    config_path = "/etc/temporal/" + temporal["environment"]["DYNAMIC_CONFIG_FILE_PATH"]
    config = yaml.safe_load((ROOT / mounted[config_path]).read_text())
    held = config["matching.longPollExpirationInterval"][0]["value"]
    assert held == f"{int(LONG_POLL_EXPIRATION.total_seconds())}s"
