"""The process's keyring from its settings, loaded once: the default where nothing passed one explicitly."""

import functools

from engine.keyring import Keyring, load_keyring


@functools.cache
def settings_keyring() -> Keyring:
    """``load_keyring(load_settings())``, cached for the process (the key file is read, or created, once)."""
    from engine.config import load_settings  # config reads the environment; keep importing this module free

    return load_keyring(load_settings())
