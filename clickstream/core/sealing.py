"""Sealed dead-letter payloads: bytes the pipeline could not read, encrypted so no one can read
the ids they may hold (docs/privacy.md).

A payload that is no event of the contract and no JSON object (garbage, a truncated message
whose envelope does not read) cannot be pseudonymised: nobody can say where its ids are. It is
stored sealed with AES-256-GCM under a key derived from the current pseudonymisation key,
``HMAC-SHA256(key, b"clickstream dead-letter seal")``, as ``b"CSS1" + 12-byte nonce +
ciphertext``. Replay opens it with any key of the keyring; once a rotated-out key is dropped, the
payloads sealed under it can never be read again, which is how erasure reaches bytes that cannot
be attributed to a person (they also expire with the dead_letters partition).
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from clickstream.core.pseudonyms import Keyring

MAGIC = b"CSS1"
NONCE_BYTES = 12  # GCM's standard nonce; random per payload (2^-32 collision odds after 2^32 seals)
_PURPOSE = b"clickstream dead-letter seal"


class SealError(ValueError):
    """The bytes are not a sealed payload, or no key of the keyring opens them."""


def _seal_key(pseudonym_key: bytes) -> bytes:
    # A key of its own: the pseudonym key itself is never used for two purposes.
    return hmac.new(pseudonym_key, _PURPOSE, hashlib.sha256).digest()


def is_sealed(data: bytes) -> bool:
    return data.startswith(MAGIC) and len(data) >= len(MAGIC) + NONCE_BYTES + 16


def seal(keyring: Keyring, data: bytes) -> bytes:
    """``data`` encrypted under the keyring's current key."""
    nonce = os.urandom(NONCE_BYTES)
    return MAGIC + nonce + AESGCM(_seal_key(keyring.current)).encrypt(nonce, data, None)


def open_sealed(keyring: Keyring, data: bytes) -> bytes:
    """The bytes ``seal`` was given, with whichever key of the keyring sealed them."""
    if not is_sealed(data):
        raise SealError("not a sealed payload (it does not start with CSS1 and a nonce)")
    nonce, ciphertext = data[len(MAGIC) : len(MAGIC) + NONCE_BYTES], data[len(MAGIC) + NONCE_BYTES :]
    for key in keyring.keys:
        try:
            return AESGCM(_seal_key(key)).decrypt(nonce, ciphertext, None)
        except InvalidTag:
            continue
    raise SealError("no key of the keyring opens this payload: it was sealed under a key since dropped")
