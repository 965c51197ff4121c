"""De-duplication rules: which delivery of an event_id is kept, and the audit row of the others."""

from __future__ import annotations

from typing import Any

from pipelines.timefmt import iso


def delivery_order(event: dict[str, Any]) -> tuple[str, str]:
    """Sort key among deliveries of one event_id: the earliest published is kept, ties broken by
    message id so that a replay keeps the same delivery every time."""
    return (event.get("publish_time") or "", event.get("message_id") or "")


def duplicate_row(event: dict[str, Any], now_ms: int) -> dict[str, Any]:
    """The ``duplicates`` audit row for a dropped delivery: it counts in the ledger as the
    message's one outcome."""
    return {
        "event_id": event["event_id"],
        "message_id": event.get("message_id"),
        "publish_time": event.get("publish_time"),
        "event_ts": event["event_ts"],
        "dropped_at": iso(now_ms),
    }
