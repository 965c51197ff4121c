"""Archives as the tests write them: what Pub/Sub's Cloud Storage subscriptions write (Avro)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import fastavro

from pipelines.messages import RawMessage

# The record a Cloud Storage subscription writes with "write metadata" on.
PUBSUB_AVRO_SCHEMA = fastavro.parse_schema(
    {
        "type": "record",
        "name": "PubsubMessage",
        "fields": [
            {"name": "subscription_name", "type": "string"},
            {"name": "message_id", "type": "string"},
            {"name": "publish_time", "type": {"type": "long", "logicalType": "timestamp-micros"}},
            {"name": "attributes", "type": "string"},
            {"name": "data", "type": "bytes"},
        ],
    }
)


def write_pubsub_avro(path: Path, messages: Iterable[RawMessage]) -> Path:
    with path.open("wb") as handle:
        fastavro.writer(
            handle,
            PUBSUB_AVRO_SCHEMA,
            [
                {
                    "subscription_name": "s",
                    "message_id": m.message_id,
                    "publish_time": m.publish_time_ms * 1000,
                    "attributes": json.dumps(m.attributes),
                    "data": m.data,
                }
                for m in messages
            ],
        )
    return path
