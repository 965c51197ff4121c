"""Millisecond timestamps <-> the ISO strings BigQuery's JSON API takes."""

from __future__ import annotations

from datetime import UTC, datetime

# Timestamps outside this range are not plausible event times (and overflow datetime).
MIN_TS_MS = 0
MAX_TS_MS = 4_102_444_800_000  # 2100-01-01


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso_ms(value: str) -> int:
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
