"""Applies the numbered plain-SQL files in ``migrations/`` in order, each once, under an advisory lock.

Two processes running ``migrate`` at once serialise on the lock; the second finds nothing pending.
A file that changed after it was applied is refused rather than silently ignored.

After the files, one Python step runs (still under the lock): sealing the plaintext run inputs written
before 0007 (``engine.store.sealing``), which needs the keyring SQL does not have. It is idempotent.
"""

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from engine.errors import RunStudioError
from engine.keyring import Keyring
from engine.store import sealing

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
# An arbitrary constant shared by every process that migrates this schema.
_LOCK_KEY = 0x52554E53  # "RUNS"
_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
SEALED_INPUTS_VERSION = 7
"""The migration that adds the columns the sealing step writes (``0007_sealed_run_input``)."""

_CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS runstudio_schema_migrations (
    version     integer     PRIMARY KEY,
    name        text        NOT NULL,
    checksum    text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""
_SELECT_APPLIED = "SELECT version, name, checksum FROM runstudio_schema_migrations ORDER BY version"
_LEDGER_EXISTS = "SELECT to_regclass('runstudio_schema_migrations') IS NOT NULL"
_RECORD = "INSERT INTO runstudio_schema_migrations (version, name, checksum) VALUES ($1, $2, $3)"


class MigrationError(RunStudioError):
    """The migrations on disk and the database disagree."""


@dataclass(frozen=True)
class Migration:
    """One SQL file: ``NNNN_name.sql``."""

    version: int
    name: str
    sql: str
    checksum: str

    @property
    def label(self) -> str:
        """``0001_schema``: how the migration is named to people."""
        return f"{self.version:04d}_{self.name}"


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Read every migration file in version order; numbers must run 1, 2, 3… without gaps."""
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise MigrationError(f"{path}: migration files are named NNNN_lower_snake_name.sql")
        sql = path.read_text(encoding="utf-8")
        found.append(
            Migration(
                version=int(match.group(1)),
                name=match.group(2),
                sql=sql,
                checksum=hashlib.sha256(sql.encode()).hexdigest(),
            )
        )
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise MigrationError(f"migration {expected:04d} is missing before {migration.label}")
    return found


async def _applied(conn: asyncpg.Connection) -> dict[int, asyncpg.Record]:
    if not await conn.fetchval(_LEDGER_EXISTS):
        return {}
    return {row["version"]: row for row in await conn.fetch(_SELECT_APPLIED)}


def _check_unchanged(migrations: list[Migration], applied: dict[int, asyncpg.Record]) -> None:
    by_version = {m.version: m for m in migrations}
    for version, row in applied.items():
        migration = by_version.get(version)
        if migration is None:
            raise MigrationError(
                f"the database has migration {version:04d}_{row['name']}, which this version of Run Studio "
                "does not know; upgrade Run Studio before using this database"
            )
        if migration.checksum != row["checksum"]:
            raise MigrationError(
                f"{migration.label}.sql changed after it was applied; restore it and add a new migration instead"
            )


async def pending(conn: asyncpg.Connection, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Migrations not yet applied to this database (read-only; takes no lock)."""
    migrations = discover(directory)
    applied = await _applied(conn)
    _check_unchanged(migrations, applied)
    return [m for m in migrations if m.version not in applied]


async def migrate(
    conn: asyncpg.Connection,
    *,
    target: int | None = None,
    directory: Path = MIGRATIONS_DIR,
    keyring: Keyring | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[Migration]:
    """Apply pending migrations up to ``target`` (all when None); return the ones applied now.

    Each file runs in its own transaction together with its ledger row, so a failure leaves the
    database at the previous version. Then, once the schema has ``0007``, plaintext run inputs are
    sealed with ``keyring`` (default: the process's keyring from its settings); ``progress`` hears the
    number sealed so far after each batch.
    """
    migrations = discover(directory)
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(_CREATE_LEDGER)
        applied = await _applied(conn)
        _check_unchanged(migrations, applied)
        done: list[Migration] = []
        for migration in migrations:
            if migration.version in applied or (target is not None and migration.version > target):
                continue
            try:
                async with conn.transaction():
                    await conn.execute(migration.sql)
                    await conn.execute(_RECORD, migration.version, migration.name, migration.checksum)
            except asyncpg.PostgresError as exc:
                raise MigrationError(f"{migration.label}.sql failed: {exc}") from exc
            done.append(migration)
        if directory == MIGRATIONS_DIR and SEALED_INPUTS_VERSION in {*applied, *(m.version for m in done)}:
            if keyring is None:
                from engine.default_keyring import settings_keyring  # reads the settings only when needed

                keyring = settings_keyring()
            await sealing.seal_plaintext_inputs(conn, keyring, progress=progress)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
