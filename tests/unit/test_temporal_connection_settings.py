"""Production Temporal options travel from the environment to the client's TLS and API-key settings."""

from pathlib import Path

import pytest
from pydantic import ValidationError
from temporalio.service import TLSConfig

from engine.config import Settings
from engine.stack import TemporalAuth, auth_from_settings
from engine.temporal.client import tls_config


def test_mtls_files_become_a_tls_config(tmp_path: Path) -> None:
    for name in ("cert.pem", "key.pem", "ca.pem"):
        (tmp_path / name).write_bytes(f"-----{name}-----".encode())
    settings = Settings.model_validate(
        {
            "TEMPORAL_TLS_CERT": str(tmp_path / "cert.pem"),
            "TEMPORAL_TLS_KEY": str(tmp_path / "key.pem"),
            "TEMPORAL_TLS_CA": str(tmp_path / "ca.pem"),
        }
    )
    tls = tls_config(auth_from_settings(settings))
    assert isinstance(tls, TLSConfig)
    assert tls.client_cert == b"-----cert.pem-----"
    assert tls.client_private_key == b"-----key.pem-----"
    assert tls.server_root_ca_cert == b"-----ca.pem-----"


def test_an_api_key_alone_turns_tls_on_and_is_not_printed() -> None:
    settings = Settings.model_validate({"TEMPORAL_API_KEY": "tc-secret-key"})
    auth = auth_from_settings(settings)
    assert auth == TemporalAuth(api_key="tc-secret-key")
    assert tls_config(auth) is True
    assert "tc-secret-key" not in repr(auth)
    assert "tc-secret-key" not in repr(settings)


def test_nothing_set_means_plain_local_connections() -> None:
    assert auth_from_settings(Settings.model_validate({})) is None
    assert tls_config(None) is False


def test_a_client_certificate_without_its_key_is_refused() -> None:
    with pytest.raises(ValidationError, match="TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY must be set together"):
        Settings.model_validate({"TEMPORAL_TLS_CERT": "/etc/cert.pem"})
