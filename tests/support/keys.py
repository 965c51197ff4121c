"""The pseudonymisation key of a test run: one key file per session, like the one ``local up`` creates.

Every pipeline refuses to build without ``--pseudonym_key``, so tests that build pipeline options
by hand pass ``--pseudonym_key={key_file()}``; tests of the pure rules use ``keyring()`` (the same key).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from functools import cache
from pathlib import Path

from clickstream.core.pseudonyms import Keyring, create_key_file, load_keyring


@cache
def key_file() -> Path:
    """A key file made once per test session (removed when it ends)."""
    folder = Path(tempfile.mkdtemp(prefix="clickstream-test-key-"))
    atexit.register(shutil.rmtree, folder, True)
    return create_key_file(folder / "pseudonym.key")


@cache
def keyring() -> Keyring:
    return load_keyring(key_file())


def pseudonym(raw_id: str) -> str:
    """What the pipeline stores for ``raw_id`` under the test key."""
    return keyring().pseudonym(raw_id)
