"""The encryption keyring: AES-256-GCM keys by id; the first encrypts, all of them decrypt.

One keyring serves the Temporal payload codec (``engine.temporal.codec``) and the one encrypted original
kept in Postgres (``workflow_runs.input_json``). Rotation is adding a key in front: what was sealed under an
older key still opens as long as that key stays in the list.
"""

import base64
import binascii
import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from engine.errors import ConfigurationError, RunStudioError

if TYPE_CHECKING:
    from engine.config import Settings

KEY_BYTES: Final = 32
NONCE_BYTES: Final = 12
ENVELOPE_VERSION: Final = 1
ENVELOPE_MARKER: Final = "runstudio-sealed"
"""The key that marks a JSON object as a sealed envelope rather than a plain value."""

_KEY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class UnknownKey(RunStudioError):
    """Something was sealed under a key id the keyring does not hold."""

    def __init__(self, key_id: str, known: tuple[str, ...]) -> None:
        super().__init__(
            f"data is encrypted with key id {key_id!r}, which is not in the keyring (known: "
            f"{', '.join(known) or 'none'}); add that key to RUNSTUDIO_ENCRYPTION_KEYS or the key file"
        )
        self.key_id = key_id


class TamperedCiphertext(RunStudioError):
    """The ciphertext does not authenticate under its key: altered, truncated or a wrong key with that id."""


@dataclass(frozen=True)
class Keyring:
    """Named AES-256-GCM keys; ``keys[0]`` encrypts."""

    keys: tuple[tuple[str, bytes], ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise ConfigurationError("the encryption keyring is empty")
        seen: set[str] = set()
        for key_id, key in self.keys:
            if not _KEY_ID.match(key_id):
                raise ConfigurationError(f"encryption key id {key_id!r} must match {_KEY_ID.pattern}")
            if key_id in seen:
                raise ConfigurationError(f"encryption key id {key_id!r} appears twice")
            if len(key) != KEY_BYTES:
                raise ConfigurationError(f"encryption key {key_id!r} must be {KEY_BYTES} bytes, not {len(key)}")
            seen.add(key_id)

    @property
    def current_id(self) -> str:
        """The id new ciphertext is written under."""
        return self.keys[0][0]

    @property
    def ids(self) -> tuple[str, ...]:
        """Every key id, the encrypting one first."""
        return tuple(key_id for key_id, _ in self.keys)

    def encrypt(self, plaintext: bytes, *, associated: bytes = b"") -> tuple[str, bytes, bytes]:
        """Seal ``plaintext`` under the current key: ``(key_id, nonce, ciphertext_with_tag)``."""
        key_id, key = self.keys[0]
        nonce = os.urandom(NONCE_BYTES)
        return key_id, nonce, AESGCM(key).encrypt(nonce, plaintext, associated or None)

    def decrypt(self, key_id: str, nonce: bytes, ciphertext: bytes, *, associated: bytes = b"") -> bytes:
        """Open what ``encrypt`` sealed; ``UnknownKey`` or ``TamperedCiphertext`` when it cannot."""
        key = dict(self.keys).get(key_id)
        if key is None:
            raise UnknownKey(key_id, self.ids)
        try:
            return AESGCM(key).decrypt(nonce, ciphertext, associated or None)
        except InvalidTag as exc:
            raise TamperedCiphertext(f"ciphertext under key {key_id!r} failed authentication") from exc

    def seal_json(self, value: Any) -> dict[str, Any]:
        """``value`` as a JSON envelope ``{"runstudio-sealed": 1, "kid", "nonce", "ct"}`` (base64 fields)."""
        key_id, nonce, ciphertext = self.encrypt(json.dumps(value, separators=(",", ":")).encode())
        return {
            ENVELOPE_MARKER: ENVELOPE_VERSION,
            "kid": key_id,
            "nonce": base64.b64encode(nonce).decode(),
            "ct": base64.b64encode(ciphertext).decode(),
        }

    def open_json(self, envelope: dict[str, Any]) -> Any:
        """The value ``seal_json`` sealed."""
        if not is_sealed(envelope):
            raise TamperedCiphertext("not a sealed envelope")
        try:
            nonce = base64.b64decode(envelope["nonce"], validate=True)
            ciphertext = base64.b64decode(envelope["ct"], validate=True)
        except (KeyError, TypeError, binascii.Error) as exc:
            raise TamperedCiphertext(f"malformed sealed envelope ({exc})") from exc
        return json.loads(self.decrypt(str(envelope.get("kid")), nonce, ciphertext))


def is_sealed(value: Any) -> bool:
    """True when ``value`` is an envelope written by ``Keyring.seal_json``."""
    return isinstance(value, dict) and value.get(ENVELOPE_MARKER) == ENVELOPE_VERSION


def parse_keys(text: str) -> Keyring:
    """A keyring from ``id:base64key[,id:base64key…]`` (commas or newlines; ``#`` starts a comment line)."""
    pairs: list[tuple[str, bytes]] = []
    for raw in re.split(r"[,\n]", text):
        entry = raw.strip()
        if not entry or entry.startswith("#"):
            continue
        key_id, sep, encoded = entry.partition(":")
        if not sep:
            raise ConfigurationError(f"encryption key entry {key_id[:20]!r}… must be id:base64key")
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except binascii.Error as exc:
            raise ConfigurationError(f"encryption key {key_id.strip()!r} is not valid base64") from exc
        pairs.append((key_id.strip(), key))
    return Keyring(tuple(pairs))


def new_key_line(key_id: str) -> str:
    """A fresh ``id:base64key`` entry (32 random bytes)."""
    return f"{key_id}:{base64.b64encode(os.urandom(KEY_BYTES)).decode()}"


EMBEDDED_KEY_FILE: Final = "encryption.keys"
"""The key file the embedded stack keeps under ``RUNSTUDIO_HOME`` (created on first use, mode 0600)."""


def load_keyring(settings: "Settings") -> Keyring:
    """The keyring from the settings: ``RUNSTUDIO_ENCRYPTION_KEYS``, else ``RUNSTUDIO_ENCRYPTION_KEY_FILE``,
    else ``$RUNSTUDIO_HOME/encryption.keys`` — generated (one fresh key, mode 0600) when it does not exist
    yet, so the embedded stack encrypts from its first run with nothing to configure.
    """
    if settings.encryption_keys is not None:
        return parse_keys(settings.encryption_keys.get_secret_value())
    if settings.encryption_key_file is not None:
        return _read_key_file(settings.encryption_key_file)
    path = settings.home / EMBEDDED_KEY_FILE
    if not path.exists():
        _create_key_file(path)
    return _read_key_file(path)


def _read_key_file(path: Path) -> Keyring:
    try:
        return parse_keys(path.read_text())
    except OSError as exc:
        raise ConfigurationError(f"cannot read the encryption key file {path}: {exc}") from exc


def _create_key_file(path: Path) -> None:
    # O_EXCL: the studio, the CLI and the worker may all start at once; exactly one of them writes the key.
    path.parent.mkdir(parents=True, exist_ok=True)
    line = new_key_line("k" + datetime.now(UTC).strftime("%Y%m%d%H%M%S")) + "\n"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as handle:
        handle.write(line)
