"""``Settings`` reads the environment as pydantic-settings' ``BaseSettings`` did (it no longer imports it)."""

import pytest
from pydantic import ValidationError

from engine.config import Settings, load_settings


def test_each_field_comes_from_its_variable_whatever_its_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNSTUDIO_DATABASE_URL", "postgresql://db/x")
    monkeypatch.setenv("temporal_address", "t:7233")
    monkeypatch.setenv("RUNSTUDIO_METRICS_PORT", "9100")
    monkeypatch.setenv("TEMPORAL_API_KEY", "secret")
    monkeypatch.setenv("UNRELATED_VARIABLE", "ignored")
    settings = load_settings()
    assert settings.database_url == "postgresql://db/x"
    assert settings.temporal_address == "t:7233"
    assert settings.metrics_port == 9100
    assert settings.temporal_api_key is not None and settings.temporal_api_key.get_secret_value() == "secret"


def test_values_given_to_the_constructor_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNSTUDIO_DATABASE_URL", "postgresql://env/x")
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "from-env")
    settings = Settings(RUNSTUDIO_DATABASE_URL="postgresql://given/x")
    assert settings.database_url == "postgresql://given/x"
    assert settings.temporal_namespace == "from-env"


def test_unset_means_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RUNSTUDIO_DATABASE_URL", "TEMPORAL_ADDRESS", "RUNSTUDIO_HOME", "RUNSTUDIO_LOG_FORMAT"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.database_url is None and settings.uses_embedded_stack
    assert str(settings.home) == ".runstudio" and settings.log_format == "text"


@pytest.mark.parametrize(
    ("variable", "value"),
    [("RUNSTUDIO_LOG_FORMAT", "xml"), ("TEMPORAL_UI_URL", "javascript:alert(1)"), ("TEMPORAL_TLS_CERT", "/c.pem")],
)
def test_a_bad_value_is_refused(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.delenv("TEMPORAL_TLS_KEY", raising=False)
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError):
        load_settings()


def test_settings_are_frozen() -> None:
    with pytest.raises(ValidationError):
        load_settings().database_url = "postgresql://other/x"  # type: ignore[misc]
