"""docker-compose.yaml gives every Run Studio container the encryption keys from a compose secret, never inline."""

from pathlib import Path
from typing import Any

import yaml

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yaml"
SECRET = "runstudio_encryption_keys"


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def test_every_runstudio_container_reads_the_keys_from_the_secret() -> None:
    document = compose()
    assert document["secrets"][SECRET] == {"file": "./deploy/encryption.keys"}
    ours = {name: service for name, service in document["services"].items() if service.get("build") == "."}
    assert set(ours) == {"migrate", "worker", "studio"}
    for name, service in ours.items():
        assert SECRET in service["secrets"], name
        environment = service["environment"]
        assert environment["RUNSTUDIO_ENCRYPTION_KEY_FILE"] == f"/run/secrets/{SECRET}", name
        assert "RUNSTUDIO_ENCRYPTION_KEYS" not in environment, name


def test_the_key_file_is_never_committed() -> None:
    ignored = (COMPOSE.parent / ".gitignore").read_text().splitlines()
    assert "deploy/encryption.keys" in ignored
