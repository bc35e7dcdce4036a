"""Settings from the environment (SPEC §2).

With nothing set, commands use the embedded stack under ``./.runstudio``. There is deliberately no
task-queue setting: the queue is the constant ``engine.temporal.TASK_QUEUE``.
"""

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where the services are. ``None`` means: use (and start if needed) the embedded one."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    database_url: str | None = Field(default=None, validation_alias="RUNSTUDIO_DATABASE_URL")
    temporal_address: str | None = Field(default=None, validation_alias="TEMPORAL_ADDRESS")
    temporal_namespace: str = Field(default="default", validation_alias="TEMPORAL_NAMESPACE")
    home: Path = Field(default=Path(".runstudio"), validation_alias="RUNSTUDIO_HOME")
    http_allowed_hosts_csv: str = Field(default="", validation_alias="RUNSTUDIO_HTTP_ALLOWED_HOSTS")

    @property
    def http_allowed_hosts(self) -> frozenset[str]:
        """Hosts ``http.request`` may call (``RUNSTUDIO_HTTP_ALLOWED_HOSTS``, comma-separated)."""
        return frozenset(h.strip().lower() for h in self.http_allowed_hosts_csv.split(",") if h.strip())

    @property
    def uses_embedded_stack(self) -> bool:
        """True when at least one service must come from the embedded stack."""
        return self.database_url is None or self.temporal_address is None


def load_settings() -> Settings:
    """Read the settings from the process environment."""
    return Settings()
