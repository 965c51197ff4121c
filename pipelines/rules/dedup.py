"""De-duplication rules: which delivery of an event_id is kept, and the audit row of the others."""

from __future__ import annotations

import math
import zlib
from typing import Any

from pipelines.timefmt import iso, parse_iso_ms


def dedup_key(event: dict[str, Any]) -> str:
    """What makes two deliveries the same event: the same person (pseudonym) and the same
    event_id. A retry resends the same bytes, so both match; an id another person's client
    reuses (a bug) or forges is their own event, and must not suppress anyone else's. Keying by
    person also lets a batch replay de-duplicate and cut sessions in one grouping by user."""
    return f"{event.get('user_id') or ''}/{event['event_id']}"


def delivery_order(event: dict[str, Any]) -> tuple[str, str]:
    """Sort key among deliveries of one event_id: the earliest published is kept, ties broken by
    message id so that a replay keeps the same delivery every time."""
    return (event.get("publish_time") or "", event.get("message_id") or "")


def first_and_again(deliveries: list[tuple[int, dict[str, Any]]]) -> tuple[tuple[int, dict[str, Any]], list]:
    """All deliveries of one event, as (event time ms, row) -> (the one kept, the ones dropped),
    in ``delivery_order``: what a batch run decides seeing every delivery at once."""
    ordered = sorted(deliveries, key=lambda d: delivery_order(d[1]))
    return ordered[0], ordered[1:]


def forget_at_ms(event_ts_ms: int, publish_time: str | None, horizon_s: int) -> int:
    """When the pipeline may forget an event_id: ``horizon_s`` after the later of the event time
    and the publish time.

    The event time alone is not enough: an event published long after it happened (buffered
    offline, or up to the accepted age limit) is already behind the watermark, so a timer at
    ``event time + horizon`` fires at once and a redelivery is stored again. The publish time is
    Pub/Sub's clock when the message arrived, and Pub/Sub's watermark never runs ahead of the
    oldest unacknowledged publish time, so ``publish time + horizon`` is at least
    ``watermark when seen + horizon``: the state lives a full horizon after the pipeline saw the
    message, whatever its event time.
    """
    seen_ms = event_ts_ms if not publish_time else max(event_ts_ms, parse_iso_ms(publish_time))
    return seen_ms + horizon_s * 1000


def bucket_of(key: str, buckets: int) -> int:
    """A stable bucket for a dedup key (the same in every process, unlike ``hash``)."""
    return zlib.crc32(key.encode()) % buckets


def expiry_slot_ms(horizon_s: int) -> int:
    """How coarsely the local runner's dedup expires ids: a sixtieth of the horizon (a minute of
    the default hour), at least a second. An id is kept at most one slot longer, never shorter."""
    return max(1000, horizon_s * 1000 // 60)


def round_up(ms: int, slot_ms: int) -> int:
    return math.ceil(ms / slot_ms) * slot_ms


def duplicate_row(event: dict[str, Any], now_ms: int) -> dict[str, Any]:
    """The ``duplicates`` audit row for a dropped delivery: it counts in the ledger as the
    message's one outcome. ``user_id`` (already a pseudonym) is how an erasure request finds it."""
    return {
        "event_id": event["event_id"],
        "user_id": event.get("user_id"),
        "message_id": event.get("message_id"),
        "publish_time": event.get("publish_time"),
        "event_ts": event["event_ts"],
        "dropped_at": iso(now_ms),
    }
