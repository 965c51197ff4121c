"""Names of the Pub/Sub message attributes every producer sets and the pipeline reads, once.

The Python emitter and the HTTP collector publish the same four contract attributes; the
collector adds what only it knows. The pipeline reads them back, so a name spelled here is
the only spelling in the repository.
"""

from __future__ import annotations

import re
from typing import Any

# The contract's own attributes (emitters.events.Event.attributes, the collector).
EVENT_ID = "event_id"
EVENT_TYPE = "event_type"
SCHEMA_VERSION = "schema_version"
EVENT_TS = "event_ts"  # Dataflow's timestamp_attribute: milliseconds since the epoch

# W3C trace context, under the name the Google Pub/Sub client libraries use for OpenTelemetry
# (google-cloud-pubsub >= 2.24, Beam Java's PubsubIO), so any Pub/Sub-traced consumer continues it.
TRACEPARENT = "googclient_traceparent"

# Stamped by the HTTP collector.
RECEIVED_AT = "clickstream_received_at"  # ms since the epoch, the collector's clock
CLIENT_IP_PREFIX = "clickstream_client_ip"  # the client's network (/24 or /48), never the whole address
EVENT_ID_GENERATED = "clickstream_event_id_generated"  # "true" when the client sent no event_id
# On the rejected topic: why the collector refused the event, and in words.
REJECT_REASON = "clickstream_reason"
REJECT_DETAIL = "clickstream_detail"


def contract_attributes(record: dict[str, Any]) -> dict[str, str]:
    """The attributes of one contract record, as every producer must set them."""
    return {
        EVENT_ID: record["event_id"],
        EVENT_TYPE: record["event_type"],
        SCHEMA_VERSION: record["schema_version"],
        EVENT_TS: str(record["event_ts"]),
    }


# Version 00 has exactly four fields; a later version may append "-..." (W3C Trace Context 3.2.4).
_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")


def trace_ids(traceparent: str | None) -> tuple[str, str] | None:
    """(trace id, span id) of a W3C ``traceparent`` value, or None when it is absent or invalid.

    All-zero ids and version ff are invalid (W3C Trace Context, section 3.2.2); a version above
    00 is read by its first four fields, as OpenTelemetry's propagator reads it.
    """
    match = _TRACEPARENT.match((traceparent or "").strip().lower())
    if match is None:
        return None
    version, trace_id, span_id, _flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest) or set(trace_id) == {"0"} or set(span_id) == {"0"}:
        return None
    return trace_id, span_id
