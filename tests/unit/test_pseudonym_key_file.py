"""`clickstream local up` (provisioning) creates the pseudonymisation key the pipeline needs, once."""

from __future__ import annotations

import stat
from dataclasses import replace
from pathlib import Path

from clickstream.app import provisioning
from clickstream.core.config import Settings
from clickstream.core.pseudonyms import load_keyring


def test_provisioning_creates_the_local_key_file_once_readable_by_its_owner_only(tmp_path: Path) -> None:
    # `local up` provisions the local stack (services.py: with its local endpoints); against real
    # BigQuery an empty key is refused rather than read from this file (test_config.py).
    settings = Settings.from_env(state_dir=tmp_path / "state").with_local_endpoints()
    key = Path(settings.pseudonym_key_source)
    assert not key.exists()
    provisioning.ensure_pseudonym_key(settings)
    first = load_keyring(key)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    provisioning.ensure_pseudonym_key(settings)  # a second `up` keeps the key: pseudonyms stay the same
    assert load_keyring(key) == first


def test_a_secret_manager_key_is_never_created_locally(tmp_path: Path) -> None:
    secret = "projects/p/secrets/clickstream-pseudonym-key/versions/latest"
    settings = replace(Settings.from_env(state_dir=tmp_path), pseudonym_key=secret)
    provisioning.ensure_pseudonym_key(settings)
    assert not any(tmp_path.iterdir()) and not Path(secret).exists()
