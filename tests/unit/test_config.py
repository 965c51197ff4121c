from __future__ import annotations

from pathlib import Path

import pytest

from clickstream.core.config import Settings


def test_environment_then_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLICKSTREAM_TOPIC", "from-env")
    monkeypatch.setenv("CLICKSTREAM_PUBSUB_PORT", "18000")
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", "127.0.0.1:18000")
    monkeypatch.setenv("CLICKSTREAM_STATE_DIR", "/tmp/somewhere")
    settings = Settings.from_env(topic="from-flag", dataset=None)
    assert settings.topic == "from-flag"
    assert settings.pubsub_port == 18000
    assert settings.pubsub_emulator_host == "127.0.0.1:18000"
    assert settings.state_dir == Path("/tmp/somewhere")
    assert settings.dataset == "clickstream"
    assert settings.topic_path == "projects/clickstream-local/topics/from-flag"


def test_without_emulator_variables_clients_target_real_gcp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PUBSUB_EMULATOR_HOST", raising=False)
    monkeypatch.delenv("CLICKSTREAM_BIGQUERY_ENDPOINT", raising=False)
    settings = Settings.from_env()
    assert settings.pubsub_emulator_host is None and settings.bigquery_endpoint is None
    local = settings.with_local_endpoints()
    assert local.pubsub_emulator_host == f"127.0.0.1:{settings.pubsub_port}"
