"""Millisecond timestamps <-> the ISO strings BigQuery's JSON API takes."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from functools import lru_cache

# Timestamps outside this range are not plausible event times (and overflow datetime).
MIN_TS_MS = 0
MAX_TS_MS = 4_102_444_800_000  # 2100-01-01


@lru_cache(maxsize=8192)
def _second_prefix(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def iso(ms: int) -> str:
    """RFC 3339 UTC with milliseconds. On the hot path (4 per event): events of one
    second share the formatted prefix, so this is a cache hit and an f-string."""
    seconds, millis = divmod(ms, 1000)
    return f"{_second_prefix(seconds)}.{millis:03d}Z"


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def datetime_ms(value: datetime) -> int:
    """Milliseconds since the epoch (naive: UTC). Integer arithmetic: ``timestamp() * 1000`` is a
    float product that truncates some instants 1 ms early (measured: about 0.6% of 1970-2100)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // _MS


def parse_iso_ms(value: str) -> int:
    """The inverse of ``iso``."""
    return datetime_ms(datetime.fromisoformat(value.replace("Z", "+00:00")))
