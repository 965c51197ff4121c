"""Replay inputs: archived Pub/Sub messages as JSON lines or Avro, and dead-letter rows.

JSON lines (our archive format, one message per line)::

    {"data": "<base64>", "attributes": {...}, "message_id": "...", "publish_time": "2026-...Z"}

Avro: the record layout Pub/Sub's Cloud Storage subscriptions write (``data`` bytes,
``attributes`` as a JSON string or map, ``message_id``, ``publish_time``), so a bucket
of archived traffic replays as is.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from pipelines.messages import RawMessage
from pipelines.timefmt import iso, parse_iso_ms


def _publish_ms(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, int | float):
        # Pub/Sub's Avro export uses microseconds; plain numbers from our tools are milliseconds.
        return int(value // 1000) if value > 10**14 else int(value)
    return parse_iso_ms(str(value))


def from_record(record: dict[str, Any]) -> RawMessage:
    """A RawMessage from a decoded archive record (a JSON line or an Avro record)."""
    data = record.get("data") or b""
    if isinstance(data, str):
        data = base64.b64decode(data)
    attributes = record.get("attributes") or {}
    if isinstance(attributes, str):
        attributes = json.loads(attributes) if attributes else {}
    return RawMessage(
        data=bytes(data),
        attributes={str(k): str(v) for k, v in attributes.items()},
        message_id=record.get("message_id"),
        publish_time_ms=_publish_ms(record.get("publish_time")),
    )


def from_json_line(line: str) -> RawMessage:
    return from_record(json.loads(line))


def to_json_line(message: RawMessage) -> str:
    return json.dumps(
        {
            "data": base64.b64encode(message.data).decode("ascii"),
            "attributes": message.attributes,
            "message_id": message.message_id,
            "publish_time": iso(message.publish_time_ms) if message.publish_time_ms is not None else None,
        }
    )
