"""The payload codec: every payload Temporal stores is AES-256-GCM ciphertext under a keyring key.

Each encoded payload carries ``encoding: binary/encrypted`` and the id of the key that sealed it; its data
is the nonce followed by the ciphertext of the whole original ``Payload`` (metadata included, so the
original encoding is hidden too). Decoding looks the key id up in the keyring, so a rotated-in key encrypts
new payloads while older histories still open — and a history sealed under a key that is gone fails with
``engine.keyring.UnknownKey`` naming that key id.
"""

import dataclasses
from collections.abc import Sequence
from typing import Final

from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes, PayloadCodec

from engine.keyring import NONCE_BYTES, Keyring, TamperedCiphertext

ENCODING: Final = b"binary/encrypted"
"""The ``encoding`` metadata of an encrypted payload (the name Temporal's samples and tools use)."""

KEY_ID_METADATA: Final = "encryption-key-id"
"""The metadata key holding the id of the keyring key a payload was sealed under."""

PLAIN_DATA_CONVERTER: Final = pydantic_data_converter
"""The converter without the codec: only for replaying histories recorded before the codec existed."""


class EncryptionCodec(PayloadCodec):
    """Seals payloads under ``keyring``'s current key and opens them under whichever key sealed them."""

    def __init__(self, keyring: Keyring) -> None:
        """A codec over ``keyring`` (its first key encrypts, all of them decrypt)."""
        self.keyring = keyring

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Each payload as an encrypted payload naming its key id."""
        return [self.seal(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """The original payloads; ones that are not encrypted (written before the codec) pass through."""
        return [self.open(payload) for payload in payloads]

    def seal(self, payload: Payload) -> Payload:
        """One payload, encrypted."""
        key_id, nonce, ciphertext = self.keyring.encrypt(payload.SerializeToString())
        return Payload(metadata={"encoding": ENCODING, KEY_ID_METADATA: key_id.encode()}, data=nonce + ciphertext)

    def open(self, payload: Payload) -> Payload:
        """One payload, decrypted (unchanged if it is not encrypted)."""
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        key_id = payload.metadata.get(KEY_ID_METADATA, b"").decode(errors="replace")
        if len(payload.data) <= NONCE_BYTES:
            raise TamperedCiphertext(f"encrypted payload under key {key_id!r} is truncated")
        plaintext = self.keyring.decrypt(key_id, payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:])
        return Payload.FromString(plaintext)


def data_converter(keyring: Keyring) -> DataConverter:
    """The project's converter: pydantic JSON, encrypted by ``keyring``, failures' messages and traces too.

    Every client, worker and replayer the project builds uses this (``engine.temporal.client.connect``).
    """
    return dataclasses.replace(
        PLAIN_DATA_CONVERTER,
        payload_codec=EncryptionCodec(keyring),
        # Failure messages and stack traces can quote a secret (an action's error text); this moves them
        # into an encoded attributes payload, so the codec covers them as well.
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def payload_key_id(payload: Payload) -> str | None:
    """The key id an encrypted payload was sealed under, or ``None`` for a plaintext payload."""
    if payload.metadata.get("encoding") != ENCODING:
        return None
    return payload.metadata.get(KEY_ID_METADATA, b"").decode(errors="replace")
