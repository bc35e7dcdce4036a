"""The worker's workflow cache size is a setting (issue 16: 10,000 waiting runs evicted from a 1,000-run cache
replay their histories when one event reaches them all)."""

import asyncpg
import pytest
from temporalio.testing import WorkflowEnvironment

from engine.actions.registry import default_registry
from engine.config import DEFAULT_MAX_CACHED_WORKFLOWS, Settings
from engine.temporal.activities import Activities
from worker.main import build_worker


def test_the_cache_size_defaults_to_temporals_and_reads_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNSTUDIO_WORKER_MAX_CACHED_WORKFLOWS", raising=False)
    assert Settings().worker_max_cached_workflows == DEFAULT_MAX_CACHED_WORKFLOWS == 1000
    monkeypatch.setenv("RUNSTUDIO_WORKER_MAX_CACHED_WORKFLOWS", "12000")
    assert Settings().worker_max_cached_workflows == 12000
    monkeypatch.setenv("RUNSTUDIO_WORKER_MAX_CACHED_WORKFLOWS", "-1")
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        Settings()


async def test_the_worker_is_built_with_the_cache_size(
    private_temporal: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    # A private server: one client may register one worker per task queue, and the session's has one.
    activities = Activities(pool=db_pool, registry=default_registry())
    sized = build_worker(private_temporal.client, activities, max_cached_workflows=12000)
    assert sized.config()["max_cached_workflows"] == 12000
