"""What a message's attributes say about where it came from: its trace, and the collector's stamps.

Read into ``events`` and ``dead_letters`` rows so that an engineer can go from a trace to the row
and back (docs/tracing.md). None of these is ever a reason to dead-letter: an attribute that is
absent or unreadable is a NULL column.
"""

from __future__ import annotations

from typing import Any

from clickstream.core import attributes as attr
from pipelines.timefmt import MAX_TS_MS, MIN_TS_MS, iso


def trace_columns(attributes: dict[str, str]) -> dict[str, str | None]:
    """``trace_id`` and ``span_id`` of the ``googclient_traceparent`` attribute, or NULLs."""
    ids = attr.trace_ids(attributes.get(attr.TRACEPARENT))
    trace_id, span_id = ids if ids is not None else (None, None)
    return {"trace_id": trace_id, "span_id": span_id}


def _received_at(value: str | None) -> str | None:
    try:
        ms = int(value) if value is not None else None
    except ValueError:
        return None
    return iso(ms) if ms is not None and MIN_TS_MS <= ms <= MAX_TS_MS else None


def collector_columns(attributes: dict[str, str]) -> dict[str, Any]:
    """``received_at``, ``client_ip_prefix`` and ``event_id_generated`` as the HTTP collector stamped them.

    ``event_id_generated`` is TRUE when the collector made the id, FALSE when the collector
    received the client's own id, and NULL for an event that did not come through the collector.
    """
    received = attributes.get(attr.RECEIVED_AT)
    generated = attributes.get(attr.EVENT_ID_GENERATED)
    via_collector = received is not None or generated is not None
    return {
        "received_at": _received_at(received),
        "client_ip_prefix": attributes.get(attr.CLIENT_IP_PREFIX),
        "event_id_generated": (generated == "true") if via_collector else None,
    }
