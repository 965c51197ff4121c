"""Reading a request body into items: what is a 400 or 413, before any event is looked at."""

from __future__ import annotations

import pytest

from collector.app import _items, _Refusal
from collector.config import CollectorConfig


@pytest.mark.parametrize("body", [b"[" * 200_000, b'{"events": [' + b"[" * 200_000 + b"]}"])
def test_deeply_nested_json_is_a_400_not_a_crash(body: bytes) -> None:
    with pytest.raises(_Refusal) as refused:
        _items(body, CollectorConfig(max_request_bytes=1_000_000, max_event_bytes=1_000_000))
    assert refused.value.status == 400


def test_one_event_or_a_batch() -> None:
    config = CollectorConfig()
    assert _items(b'{"event_type": "VideoPaused"}', config) == [{"event_type": "VideoPaused"}]
    assert _items(b'{"events": [1, {}]}', config) == [1, {}]


def test_a_single_event_over_the_event_limit_is_a_413_like_in_a_batch() -> None:
    config = CollectorConfig(max_event_bytes=1024, max_request_bytes=200_000)
    body = b'{"event_type": "VideoPaused", "user_id": "' + b"x" * 100_000 + b'"}'
    with pytest.raises(_Refusal) as refused:
        _items(body, config)
    assert refused.value.status == 413
    assert refused.value.body["limit"] == 1024


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_are_not_json_and_are_a_400(constant: bytes) -> None:
    for body in (b'{"events": [' + constant + b"]}", b'{"event_ts": ' + constant + b"}"):
        with pytest.raises(_Refusal) as refused:
            _items(body, CollectorConfig())
        assert refused.value.status == 400
        assert constant.decode() in refused.value.body["error"]
