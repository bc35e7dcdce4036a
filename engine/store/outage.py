"""Is this exception "Postgres is not there"? And how to name a Postgres in a message without its password.

Connection failures reach callers as many types (``FileNotFoundError`` for a missing unix socket,
``ConnectionRefusedError``, ``socket.gaierror``, asyncpg's class 08 / 57P0x errors …). ``postgres_outage``
folds them into one short reason, so every command and the studio can say the same one line.
"""

import os
import socket
import traceback
from types import TracebackType
from urllib.parse import parse_qs, unquote, urlsplit

import asyncpg

_SERVER_GONE = (
    asyncpg.PostgresConnectionError,  # class 08, including ConnectionDoesNotExistError
    asyncpg.CannotConnectNowError,  # 57P03: starting up, shutting down, in recovery
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
)
_REFUSED = (
    asyncpg.InvalidPasswordError,
    asyncpg.InvalidAuthorizationSpecificationError,
    asyncpg.InvalidCatalogNameError,  # the database named in the URL does not exist
)


def postgres_address(database_url: str) -> str:
    """Where ``database_url`` points, for messages: ``host:port``, or ``<dir> (socket)``; never credentials."""
    try:
        parts = urlsplit(database_url)
        query = parse_qs(parts.query)
        host = query.get("host", [""])[0] or unquote(parts.hostname or "") or os.environ.get("PGHOST", "")
        port = query.get("port", [""])[0] or (str(parts.port) if parts.port else "") or os.environ.get("PGPORT", "")
    except ValueError:
        return "the configured URL (unparseable)"
    if host.startswith("/"):
        return f"{host} (socket)"
    return f"{host or 'localhost'}:{port or '5432'}"


def postgres_outage(exc: BaseException, *, from_driver_only: bool = False) -> str | None:
    """A short reason when ``exc`` means Postgres cannot be reached or dropped the connection, else ``None``.

    With ``from_driver_only`` an ``OSError`` counts only when asyncpg raised it (its frames are in the
    traceback), so a file the command itself failed to write is not blamed on Postgres.
    """
    if isinstance(exc, _REFUSED):
        return f"it refused the connection ({exc})"
    if isinstance(exc, _SERVER_GONE):
        return str(exc) or type(exc).__name__
    if isinstance(exc, asyncpg.InterfaceError) and "connection is closed" in str(exc):
        return "the connection was closed"
    if isinstance(exc, TimeoutError):
        return "no answer before the timeout" if not from_driver_only or _raised_in_asyncpg(exc) else None
    if not isinstance(exc, OSError) or (from_driver_only and not _raised_in_asyncpg(exc)):
        return None
    return _os_reason(exc)


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, socket.gaierror):
        return f"its host name does not resolve ({exc.strerror})"
    if isinstance(exc, FileNotFoundError):
        return "connection refused (no socket file)"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
        return "the connection was reset"
    return (exc.strerror or type(exc).__name__).lower()


def _raised_in_asyncpg(exc: BaseException) -> bool:
    tb: TracebackType | None = exc.__traceback__
    return any("asyncpg" in frame.f_code.co_filename for frame, _ in traceback.walk_tb(tb))
