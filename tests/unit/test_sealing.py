"""Sealed dead-letter payloads: only a keyring holding the key that sealed them opens them."""

from __future__ import annotations

import pytest

from clickstream.core.pseudonyms import new_keyring
from clickstream.core.sealing import MAGIC, SealError, is_sealed, open_sealed, seal

DATA = b"\xff\xfe not an event, but it names u-1234 and d-5678"


def test_a_sealed_payload_opens_to_the_same_bytes_and_does_not_show_them() -> None:
    keyring = new_keyring()
    sealed = seal(keyring, DATA)
    assert sealed.startswith(MAGIC) and is_sealed(sealed)
    assert b"u-1234" not in sealed and b"d-5678" not in sealed
    assert seal(keyring, DATA) != sealed  # a fresh nonce every time
    assert open_sealed(keyring, sealed) == DATA


def test_a_payload_sealed_under_another_key_does_not_open() -> None:
    with pytest.raises(SealError, match="no key"):
        open_sealed(new_keyring(), seal(new_keyring(), DATA))


def test_after_a_rotation_old_payloads_still_open_until_the_old_key_is_dropped() -> None:
    old = new_keyring()
    sealed = seal(old, DATA)
    rotated = old.rotated()
    assert open_sealed(rotated, sealed) == DATA
    assert open_sealed(rotated, seal(rotated, DATA)) == DATA
    dropped = type(old)(rotated.keys[:1])  # the old key removed from the keyring
    with pytest.raises(SealError):
        open_sealed(dropped, sealed)


def test_bytes_that_are_not_sealed_are_refused_clearly() -> None:
    with pytest.raises(SealError, match="not a sealed payload"):
        open_sealed(new_keyring(), b"plain bytes")
    assert not is_sealed(b"plain bytes")
