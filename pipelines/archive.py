"""Replay inputs: archived Pub/Sub messages as JSON lines or Avro, and dead-letter rows.

JSON lines (our archive format, one message per line)::

    {"data": "<base64>", "attributes": {...}, "message_id": "...", "publish_time": "2026-...Z"}

Avro: the record layout Pub/Sub's Cloud Storage subscriptions write (``data`` bytes,
``attributes`` as a JSON string or map, ``message_id``, ``publish_time``), so a bucket
of archived traffic replays as is.

An entry (a line, or an Avro record) that is not a message raises ``Unreadable``; the replay
turns it into an ``unreadable_archive_line`` dead letter that keeps the entry's bytes
(``unreadable_dead_letter``), so one bad line costs that line, not the replay.

An entry without a ``message_id`` gets ``line-`` and a hash of its bytes as its id
(``entry_id``): the ledger knows a message by its id and publish time, so the same line read
again (a dead letter of it replayed after a fix) is recognised as the same message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from datetime import datetime
from typing import Any

from clickstream.core.reasons import STAGE_OF, Reason
from pipelines.messages import RawMessage, dead_letter_row
from pipelines.timefmt import iso, parse_iso_ms


class Unreadable(ValueError):
    """An archive entry that is not a message: not JSON, bad base64, a bad publish_time..."""


def _publish_ms(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, int | float) and not isinstance(value, bool):
        # Pub/Sub's Avro export uses microseconds; plain numbers from our tools are milliseconds.
        return int(value // 1000) if value > 10**14 else int(value)
    if isinstance(value, str):
        return parse_iso_ms(value)
    raise Unreadable(f"publish_time {value!r} is not a timestamp")


def entry_id(entry: bytes) -> str:
    """The id of an archive entry that carries none: the same bytes, the same id."""
    return "line-" + hashlib.sha256(entry).hexdigest()[:32]


def _data(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        # validate: a stray character is a damaged line, not something to skip silently.
        return base64.b64decode(value, validate=True)
    raise Unreadable(f"data is a {type(value).__name__}, not base64 text")


def _attributes(value: Any) -> dict[str, str]:
    if isinstance(value, str):
        value = json.loads(value) if value else {}
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Unreadable(f"attributes is a {type(value).__name__}, not a map")
    return {str(k): str(v) for k, v in value.items()}


def _message_id(record: dict[str, Any], entry: bytes) -> str:
    value = record.get("message_id")
    return str(value) if value not in (None, "") else entry_id(entry)


def _from_record(record: Any, entry: bytes) -> RawMessage:
    if not isinstance(record, dict):
        raise Unreadable(f"a {type(record).__name__}, not a message object")
    try:
        return RawMessage(
            data=_data(record.get("data")),
            attributes=_attributes(record.get("attributes")),
            message_id=_message_id(record, entry),
            publish_time_ms=_publish_ms(record.get("publish_time")),
        )
    except Unreadable:
        raise
    except (ValueError, TypeError, binascii.Error) as exc:  # JSONDecodeError is a ValueError
        raise Unreadable(f"{type(exc).__name__}: {exc}") from exc


def from_json_line(line: str | bytes) -> RawMessage:
    """A RawMessage from one archive line; raises ``Unreadable`` when the line is not one."""
    entry = line.encode() if isinstance(line, str) else line
    try:
        record = json.loads(entry)
    except ValueError as exc:  # not UTF-8 (UnicodeDecodeError) or not JSON
        raise Unreadable(f"not a JSON line: {exc}") from exc
    return _from_record(record, entry)


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def avro_entry(record: dict[str, Any]) -> bytes:
    """An Avro record as a line of our archive format (``data`` in base64, times in ISO 8601):
    the replay reads both formats with ``from_json_line``, and a dead letter keeps this line."""
    return json.dumps(record, default=_jsonable, sort_keys=True).encode()


def unreadable_dead_letter(entry: bytes, source: str, error: Unreadable) -> dict[str, Any]:
    """The dead letter of an entry that is not a message: its bytes, its file, what is wrong,
    and the message id and publish time when those parts of it could be read."""
    message_id, publish_ms = entry_id(entry), None
    try:
        record = json.loads(entry)
    except ValueError:
        record = None
    if isinstance(record, dict):
        message_id = _message_id(record, entry)
        try:
            publish_ms = _publish_ms(record.get("publish_time"))
        except ValueError:
            publish_ms = None
    reason, raw = Reason.UNREADABLE_ARCHIVE_LINE, RawMessage(entry, {}, message_id, publish_ms)
    return dead_letter_row(raw, STAGE_OF[reason], reason, f"{source}: {error}")


def to_json_line(message: RawMessage) -> str:
    return json.dumps(
        {
            "data": base64.b64encode(message.data).decode("ascii"),
            "attributes": message.attributes,
            "message_id": message.message_id,
            "publish_time": iso(message.publish_time_ms) if message.publish_time_ms is not None else None,
        }
    )
