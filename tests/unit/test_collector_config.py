"""The collector's configuration: defaults from the issue, environment, then explicit values."""

from __future__ import annotations

import pytest

from collector.config import CollectorConfig


def test_defaults_are_the_documented_limits() -> None:
    config = CollectorConfig()
    assert config.max_event_bytes == 32 * 1024
    assert config.max_request_bytes == 512 * 1024
    assert config.max_events == 500
    assert config.write_keys == ("local-write-key",)
    assert config.trusted_proxy_hops == 0
    assert config.tracing_exporter == "none"


def test_environment_then_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLICKSTREAM_COLLECTOR_WRITE_KEYS", "k1, k2")
    monkeypatch.setenv("CLICKSTREAM_COLLECTOR_ALLOWED_ORIGINS", "https://a.example,https://b.example")
    monkeypatch.setenv("CLICKSTREAM_COLLECTOR_MAX_EVENTS", "20")
    monkeypatch.setenv("CLICKSTREAM_COLLECTOR_TRACING_SAMPLE_RATIO", "0.25")
    config = CollectorConfig.from_env(max_events=None, allowed_origins=("https://c.example",))
    assert config.write_keys == ("k1", "k2")
    assert config.allowed_origins == ("https://c.example",)
    assert config.max_events == 20
    assert config.tracing_sample_ratio == 0.25


@pytest.mark.parametrize(
    "bad",
    [
        {"write_keys": ()},
        {"max_events": 0},
        {"max_event_bytes": 2048, "max_request_bytes": 1024},
        {"tracing_exporter": "jaeger"},
        {"tracing_sample_ratio": 1.5},
        {"trusted_proxy_hops": -1},
    ],
)
def test_a_configuration_that_cannot_work_is_refused_with_a_message(bad: dict) -> None:
    with pytest.raises(ValueError):
        CollectorConfig(**bad)


def test_a_bad_environment_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLICKSTREAM_COLLECTOR_MAX_EVENTS", "many")
    with pytest.raises(ValueError, match="CLICKSTREAM_COLLECTOR_MAX_EVENTS"):
        CollectorConfig.from_env()
