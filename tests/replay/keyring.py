"""The TEST-ONLY keyring the encrypted replay histories are recorded and replayed with.

``test_keyring.keys`` is committed, so it is public and protects nothing; it only lets the replay test
decrypt ``histories_encrypted/`` the way a worker holding the real keys decrypts real histories.
"""

from pathlib import Path
from typing import Final

from engine.keyring import Keyring, parse_keys

HERE: Final = Path(__file__).resolve().parent
ENCRYPTED_HISTORIES: Final = HERE / "histories_encrypted"
TEST_KEYRING: Final[Keyring] = parse_keys((HERE / "test_keyring.keys").read_text())
