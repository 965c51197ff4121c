"""The pipeline's input message and its dead-letter row, independent of where they came from."""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass, field
from typing import Any

from clickstream.core import attributes as attr
from clickstream.core.network import ip_prefix
from pipelines.timefmt import MAX_TS_MS, MIN_TS_MS, iso, parse_iso_ms


@dataclass(frozen=True, slots=True)
class RawMessage:
    """One input: a Pub/Sub message, or a line of a replay file.

    ``ids_pseudonymised``: the ids in ``data`` are pseudonyms already (a dead letter stored with
    ``payload_ids='pseudonymised'``, replayed), so they must not be hashed again. Only the replay
    reader sets it, from the dead-letter row; never a message attribute, which clients control.
    """

    data: bytes
    attributes: dict[str, str] = field(default_factory=dict)
    message_id: str | None = None
    publish_time_ms: int | None = None
    ids_pseudonymised: bool = False


def dead_letter_row(
    raw: RawMessage,
    stage: str,
    reason: str,
    error: str,
    *,
    event_id: str | None = None,
    event_type: str | None = None,
    refused_table: str | None = None,
    now_ms: int | None = None,
    trace: tuple[str, str] | None = None,
    payload_ids: str | None = None,
    user_id: str | None = None,
) -> dict[str, Any]:
    """A ``dead_letters`` row that keeps the message's bytes and attributes, for replay after a fix.

    The bytes must hold no raw id: callers pass the payload as ``pipelines.rules.pseudonymise``
    made it (ids replaced by pseudonyms, or sealed), and say which in ``payload_ids``
    (``pseudonymised`` | ``encrypted`` | ``none``); ``user_id`` is the pseudonym an erasure
    request finds the row by. NULL ``payload_ids`` is a row written before pseudonymisation.

    ``refused_table`` names the table that refused the row (sink dead letters only): the
    ledger reads it to tell a refused event (an input outcome) from a refused session pane
    (an output of the pipeline, not a published message). ``trace`` (trace id, span id)
    defaults to the message's ``googclient_traceparent`` attribute.
    """
    trace_id, span_id = trace or attr.trace_ids(raw.attributes.get(attr.TRACEPARENT)) or (None, None)
    return {
        "message_id": raw.message_id,
        # A dead letter must never fail to build: an absurd publish time is dropped, not raised.
        "publish_time": iso(raw.publish_time_ms)
        if raw.publish_time_ms is not None and MIN_TS_MS <= raw.publish_time_ms <= MAX_TS_MS
        else None,
        "failed_at": iso(now_ms if now_ms is not None else time.time_ns() // 1_000_000),
        "stage": stage,
        "reason": reason,
        "error": error[:4000],
        "event_id": event_id,
        "event_type": event_type,
        "refused_table": refused_table,
        "payload": base64.b64encode(raw.data).decode("ascii"),
        "attributes": [{"key": k, "value": v} for k, v in sorted(_storable(raw.attributes).items())],
        "trace_id": trace_id,
        "span_id": span_id,
        "user_id": user_id,
        "payload_ids": payload_ids,
    }


def _storable(attributes: dict[str, str]) -> dict[str, str]:
    """The attributes a dead letter may keep: a client address only as its network (any Pub/Sub
    producer can set the collector's attribute; no raw IP is ever stored)."""
    if attr.CLIENT_IP_PREFIX not in attributes:
        return attributes
    kept = dict(attributes)
    network = ip_prefix(kept.pop(attr.CLIENT_IP_PREFIX))
    if network is not None:
        kept[attr.CLIENT_IP_PREFIX] = network
    return kept


def raw_from_dead_letter(row: dict[str, Any]) -> RawMessage:
    """Rebuild the original message from a dead-letter row, to re-process it after a fix."""
    payload = row.get("payload") or b""
    data = payload if isinstance(payload, bytes) else base64.b64decode(payload)
    publish_time = row.get("publish_time")
    if publish_time is not None and not isinstance(publish_time, str):
        publish_time = publish_time.isoformat()
    return RawMessage(
        data=data,
        attributes={a["key"]: a["value"] for a in row.get("attributes") or []},
        message_id=row.get("message_id"),
        publish_time_ms=parse_iso_ms(publish_time) if publish_time else None,
    )
