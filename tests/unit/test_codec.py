"""The payload codec: AES-256-GCM per payload under the keyring's first key, opened under whichever key sealed it."""

import pytest
from temporalio.api.common.v1 import Payload

from engine.keyring import TamperedCiphertext, UnknownKey, parse_keys
from engine.temporal.codec import ENCODING, KEY_ID_METADATA, EncryptionCodec, data_converter, payload_key_id

A = "a:" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="  # test-only keys
B = "b:" + "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI="
ORIGINAL = Payload(metadata={"encoding": b"json/plain", "messageType": b"x"}, data=b'{"password":"hunter2"}')


async def test_a_payload_round_trips_and_hides_data_and_metadata() -> None:
    codec = EncryptionCodec(parse_keys(A))
    [sealed] = await codec.encode([ORIGINAL])
    assert dict(sealed.metadata) == {"encoding": ENCODING, KEY_ID_METADATA: b"a"}
    assert b"hunter2" not in sealed.data and b"json/plain" not in sealed.data
    assert await codec.decode([sealed]) == [ORIGINAL]
    # A fresh nonce each time: equal payloads do not give equal ciphertext.
    [again] = await codec.encode([ORIGINAL])
    assert again.data != sealed.data


async def test_rotation_encrypts_under_the_first_key_and_opens_the_old_ones() -> None:
    [old] = await EncryptionCodec(parse_keys(A)).encode([ORIGINAL])
    rotated = EncryptionCodec(parse_keys(f"{B},{A}"))
    [new] = await rotated.encode([ORIGINAL])
    assert payload_key_id(old) == "a" and payload_key_id(new) == "b"
    assert await rotated.decode([old, new]) == [ORIGINAL, ORIGINAL]


async def test_a_missing_key_is_named_and_tampering_is_caught() -> None:
    [sealed] = await EncryptionCodec(parse_keys(A)).encode([ORIGINAL])
    with pytest.raises(UnknownKey, match="key id 'a'") as caught:
        await EncryptionCodec(parse_keys(B)).decode([sealed])
    assert caught.value.key_id == "a"
    flipped = Payload(metadata=sealed.metadata, data=sealed.data[:-1] + bytes([sealed.data[-1] ^ 1]))
    with pytest.raises(TamperedCiphertext):
        await EncryptionCodec(parse_keys(A)).decode([flipped])
    with pytest.raises(TamperedCiphertext, match="truncated"):
        await EncryptionCodec(parse_keys(A)).decode([Payload(metadata=sealed.metadata, data=b"short")])


async def test_plaintext_payloads_from_before_the_codec_pass_through() -> None:
    assert await EncryptionCodec(parse_keys(A)).decode([ORIGINAL]) == [ORIGINAL]
    assert payload_key_id(ORIGINAL) is None


async def test_the_converter_encrypts_values_and_reads_them_back() -> None:
    converter = data_converter(parse_keys(A))
    [payload] = await converter.encode([{"ssn": "123-45-6789"}])
    assert payload.metadata["encoding"] == ENCODING and b"123-45-6789" not in payload.data
    assert await converter.decode([payload], [dict]) == [{"ssn": "123-45-6789"}]
