"""Settings from the environment (SPEC §2).

With nothing set, commands use the embedded stack under ``./.runstudio``. There is deliberately no
task-queue setting: the queue is the constant ``engine.temporal.TASK_QUEUE``.

A plain pydantic model fed from the environment rather than a pydantic-settings ``BaseSettings``: every command
reads the settings, and importing pydantic-settings (its sources, dotenv and CLI machinery) cost more start-up
than everything else these fields need. It reads the environment the way ``BaseSettings`` did here: each field
from the variable its alias names, matched case-insensitively; values given to the constructor win.
"""

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

DEFAULT_MAX_CACHED_WORKFLOWS = 1000
"""Temporal's own default: about 110 MB of worker RSS when that many runs wait at once (issue 16)."""


def _from_environment(aliases: dict[str, str]) -> dict[str, str]:
    """The environment's values for the given ``{variable name (lowercase): alias}``, keyed by alias."""
    return {aliases[name.lower()]: value for name, value in os.environ.items() if name.lower() in aliases}


class Settings(BaseModel):
    """Where the services are. ``None`` means: use (and start if needed) the embedded one."""

    model_config = ConfigDict(extra="ignore", frozen=True, validate_default=True)

    def __init__(self, **values: Any) -> None:
        names = {
            name: field.validation_alias if isinstance(field.validation_alias, str) else name
            for name, field in type(self).model_fields.items()
        }
        super().__init__(**{**_from_environment({alias.lower(): alias for alias in names.values()}), **values})

    database_url: str | None = Field(default=None, validation_alias="RUNSTUDIO_DATABASE_URL")
    temporal_address: str | None = Field(default=None, validation_alias="TEMPORAL_ADDRESS")
    temporal_namespace: str = Field(default="default", validation_alias="TEMPORAL_NAMESPACE")
    temporal_ui_url: str | None = Field(default=None, validation_alias="TEMPORAL_UI_URL", pattern=r"^https?://[!-~]+$")
    """Temporal's Web UI for run links (``show``, the run screen); the embedded stack sets its own. Printable
    ASCII only: the studio writes it into a terminal hyperlink escape sequence."""
    home: Path = Field(default=Path(".runstudio"), validation_alias="RUNSTUDIO_HOME")
    http_allowed_hosts_csv: str = Field(default="", validation_alias="RUNSTUDIO_HTTP_ALLOWED_HOSTS")
    temporal_tls_cert: Path | None = Field(default=None, validation_alias="TEMPORAL_TLS_CERT")
    temporal_tls_key: Path | None = Field(default=None, validation_alias="TEMPORAL_TLS_KEY")
    temporal_tls_ca: Path | None = Field(default=None, validation_alias="TEMPORAL_TLS_CA")
    temporal_api_key: SecretStr | None = Field(default=None, validation_alias="TEMPORAL_API_KEY")
    metrics_port: int | None = Field(default=None, validation_alias="RUNSTUDIO_METRICS_PORT")
    log_format: str = Field(default="text", validation_alias="RUNSTUDIO_LOG_FORMAT", pattern="^(text|json)$")
    encryption_keys: SecretStr | None = Field(default=None, validation_alias="RUNSTUDIO_ENCRYPTION_KEYS")
    encryption_key_file: Path | None = Field(default=None, validation_alias="RUNSTUDIO_ENCRYPTION_KEY_FILE")
    worker_max_cached_workflows: int = Field(
        default=DEFAULT_MAX_CACHED_WORKFLOWS, ge=0, validation_alias="RUNSTUDIO_WORKER_MAX_CACHED_WORKFLOWS"
    )
    """Runs a worker keeps in memory between their workflow tasks (Temporal's ``max_cached_workflows``; the
    SDK's default, 1,000). A run evicted from the cache replays its history on its next task: raise it to
    at least the runs waiting at once when one event reaches many of them, at about 110 KB of worker RSS
    per cached run (measured: 10,000 waiting runs cached took 1.07 GB; issue 16)."""

    @model_validator(mode="after")
    def _client_cert_comes_with_its_key(self) -> "Settings":
        if (self.temporal_tls_cert is None) != (self.temporal_tls_key is None):
            raise ValueError("TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY must be set together (mTLS client certificate)")
        return self

    @property
    def http_allowed_hosts(self) -> frozenset[str]:
        """Hosts ``http.request`` may call (``RUNSTUDIO_HTTP_ALLOWED_HOSTS``, comma-separated)."""
        return frozenset(h.strip().lower() for h in self.http_allowed_hosts_csv.split(",") if h.strip())

    @property
    def exports_dir(self) -> Path:
        """Where run exports go unless told otherwise: ``$RUNSTUDIO_HOME/exports`` (absolute)."""
        return (self.home / "exports").resolve()

    @property
    def uses_embedded_stack(self) -> bool:
        """True when at least one service must come from the embedded stack."""
        return self.database_url is None or self.temporal_address is None


def load_settings() -> Settings:
    """Read the settings from the process environment."""
    return Settings()
