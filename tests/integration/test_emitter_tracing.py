"""The Python emitter's OpenTelemetry option (the client library's own
``PublisherOptions(enable_open_telemetry_tracing=True)``) against the real emulator: the
published message carries the trace context in ``googclient_traceparent``."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from clickstream.core import attributes
from clickstream.core.config import Settings
from emitters.publisher import EventPublisher, PublisherConfig
from tests.support.events import pull_all, sample_paused

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def spans() -> InMemorySpanExporter:
    """Spans recorded in memory. OpenTelemetry lets a process set its tracer provider once, so
    an SDK provider already set (by another test in this worker) gets our processor added."""
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


def test_with_tracing_on_the_published_message_carries_googclient_traceparent(
    spans: InMemorySpanExporter, fresh_topic: Settings
) -> None:
    event = sample_paused()
    with EventPublisher(PublisherConfig.from_settings(fresh_topic, open_telemetry_tracing=True)) as publisher:
        publisher.publish(event)
        report = publisher.flush(timeout=30)
    assert report.delivered == 1, report

    (received,) = pull_all(fresh_topic, expect=1)
    attrs = dict(received.message.attributes)
    assert attrs[attributes.EVENT_ID] == event.event_id
    ids = attributes.trace_ids(attrs.get(attributes.TRACEPARENT))
    assert ids is not None, f"no valid {attributes.TRACEPARENT} attribute: {attrs}"
    # The context is the client library's publish span, which the in-memory exporter recorded.
    recorded = {
        (format(s.context.trace_id, "032x"), format(s.context.span_id, "016x")) for s in spans.get_finished_spans()
    }
    assert ids in recorded, (ids, recorded)


def test_with_tracing_off_no_trace_context_is_added(fresh_topic: Settings) -> None:
    with EventPublisher(PublisherConfig.from_settings(fresh_topic)) as publisher:
        publisher.publish(sample_paused())
        assert publisher.flush(timeout=30).delivered == 1
    (received,) = pull_all(fresh_topic, expect=1)
    assert attributes.TRACEPARENT not in dict(received.message.attributes)
