"""What a message's attributes say about where it came from: its trace, and the collector's stamps.

Read into ``events`` and ``dead_letters`` rows so that an engineer can go from a trace to the row
and back (docs/tracing.md). None of these is ever a reason to dead-letter: an attribute that is
absent or unreadable is a NULL column. The consumer span's link and attributes are here too
(``pipelines.tracing`` makes the spans).
"""

from __future__ import annotations

from typing import Any

from opentelemetry.semconv._incubating.attributes import messaging_attributes as messaging
from opentelemetry.trace import SpanContext, get_current_span
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from clickstream.core import attributes as attr
from clickstream.core.network import ip_prefix
from pipelines.messages import RawMessage
from pipelines.timefmt import MAX_TS_MS, MIN_TS_MS, iso

_PROPAGATOR = TraceContextTextMapPropagator()


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
    ``client_ip_prefix`` is the attribute cut to its /24 or /48 network (NULL when it is none).
    """
    received = attributes.get(attr.RECEIVED_AT)
    generated = attributes.get(attr.EVENT_ID_GENERATED)
    via_collector = received is not None or generated is not None
    return {
        "received_at": _received_at(received),
        # Any producer can set the attribute: keep no more of it than the collector would.
        "client_ip_prefix": ip_prefix(attributes.get(attr.CLIENT_IP_PREFIX)),
        "event_id_generated": (generated == "true") if via_collector else None,
    }


def producer_link(attributes: dict[str, str]) -> SpanContext | None:
    """The producer's span context, for a consumer span to *link* to (OpenTelemetry messaging
    conventions: a message's processing is its own trace, linked to the one that sent it).

    Read with OpenTelemetry's own W3C propagator; None when the attribute is absent or invalid.
    """
    value = attributes.get(attr.TRACEPARENT)
    if not value:
        return None
    context = _PROPAGATOR.extract({"traceparent": value})
    span_context = get_current_span(context).get_span_context()
    return span_context if span_context.is_valid else None


def consumer_span_attributes(
    raw: RawMessage, subscription: str | None, event_id: str | None, outcome: str, reason: str | None
) -> dict[str, Any]:
    """The attributes of one message's consumer span (messaging semantic conventions, plus ours)."""
    attributes: dict[str, Any] = {
        messaging.MESSAGING_SYSTEM: messaging.MessagingSystemValues.GCP_PUBSUB.value,
        messaging.MESSAGING_OPERATION_TYPE: messaging.MessagingOperationTypeValues.PROCESS.value,
        messaging.MESSAGING_OPERATION_NAME: "process",
        messaging.MESSAGING_MESSAGE_BODY_SIZE: len(raw.data),
        "clickstream.outcome": outcome,
    }
    optional = {
        messaging.MESSAGING_MESSAGE_ID: raw.message_id,
        messaging.MESSAGING_DESTINATION_SUBSCRIPTION_NAME: subscription,
        "clickstream.event_id": event_id,
        "clickstream.reason": reason,
    }
    attributes.update({k: v for k, v in optional.items() if v is not None})
    return attributes
