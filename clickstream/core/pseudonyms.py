"""Keyed pseudonyms for the personal ids of an event (``user_id``, ``device_id``).

A plain or salted hash of a guessable id (``u-42``, an e-mail, a device serial) is reversed by
hashing every candidate; a keyed HMAC-SHA256 cannot be, without the key. The pipeline replaces
both ids with ``pseudonym(raw)`` before any row leaves it, and everything that takes a raw id
from a person (``clickstream recommend --user``, ``clickstream privacy forget``) goes through
the same function, so the raw id is never stored and never needed again.

The key lives outside the repository and outside every table: locally in a file ``local up``
creates (``Settings.pseudonym_key_file``, mode 0600); on Google Cloud in Secret Manager
(``projects/P/secrets/S/versions/V``). Its text is one hex key per line, newest first: the first
makes new pseudonyms; the others are previous keys, kept after a rotation so that an erasure
request still finds the rows written under them (``all_pseudonyms``) until those rows expire.
docs/privacy.md describes rotation.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

KEY_BYTES = 32  # HMAC-SHA256's block-sized key; more adds nothing
# 128 bits of the HMAC: collisions stay out of reach for any number of people a product has,
# and the column stays short enough to cluster on. Truncated HMACs are standard (RFC 2104 §5).
PSEUDONYM_HEX_CHARS = 32
SECRET_PREFIX = "projects/"


class KeyringError(ValueError):
    """The key text is missing, empty or not hex keys of the right length."""


@dataclass(frozen=True)
class Keyring:
    """The pseudonymisation keys, newest first."""

    keys: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise KeyringError("a keyring needs at least one key")
        for key in self.keys:
            if len(key) != KEY_BYTES:
                raise KeyringError(f"every key must be {KEY_BYTES} bytes ({2 * KEY_BYTES} hex characters)")

    @property
    def current(self) -> bytes:
        return self.keys[0]

    def pseudonym(self, raw_id: str) -> str:
        """The pseudonym new rows get for ``raw_id`` (the newest key)."""
        return _hmac_hex(self.current, raw_id)

    def all_pseudonyms(self, raw_id: str) -> list[str]:
        """``raw_id`` under every key still held: what an erasure request must look for."""
        return [_hmac_hex(key, raw_id) for key in self.keys]

    @classmethod
    def from_text(cls, text: str) -> Keyring:
        lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
        try:
            return cls(tuple(bytes.fromhex(line) for line in lines))
        except ValueError as exc:
            if isinstance(exc, KeyringError):
                raise
            raise KeyringError("the key text must hold one hex key per line") from None

    def to_text(self) -> str:
        return "".join(key.hex() + "\n" for key in self.keys)

    def rotated(self) -> Keyring:
        """A new current key, the old ones kept behind it (docs/privacy.md, key rotation)."""
        return Keyring((secrets.token_bytes(KEY_BYTES), *self.keys))


def _hmac_hex(key: bytes, raw_id: str) -> str:
    return hmac.new(key, raw_id.encode("utf-8"), hashlib.sha256).hexdigest()[:PSEUDONYM_HEX_CHARS]


def new_keyring() -> Keyring:
    return Keyring((secrets.token_bytes(KEY_BYTES),))


def create_key_file(path: Path) -> Path:
    """Write a fresh key to ``path`` unless it exists (readable by its owner only)."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(new_keyring().to_text())
    return path


def load_keyring(source: str | Path) -> Keyring:
    """The keyring from a file path, or from a Secret Manager version
    (``projects/P/secrets/S/versions/V``; needs the ``google-cloud-secret-manager`` package of
    the pipeline and cli extras)."""
    text = str(source)
    if text.startswith(SECRET_PREFIX):
        return Keyring.from_text(_read_secret(text))
    path = Path(text)
    if not path.exists():
        raise KeyringError(f"no pseudonymisation key at {path} (`clickstream local up` creates one)")
    return Keyring.from_text(path.read_text())


def _read_secret(name: str) -> str:
    # Imported here: the emitter install (no extras) never reads a secret, and must not need the package.
    from google.cloud import secretmanager

    response = secretmanager.SecretManagerServiceClient().access_secret_version(request={"name": name})
    return response.payload.data.decode("utf-8")
