"""Consumer spans in DecodeAndValidate: one per sampled message, linked (not parented) to the producer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from clickstream.core import attributes as attr
from pipelines import tracing
from pipelines.messages import RawMessage
from pipelines.rules.decode import Limits
from pipelines.transforms.decode import DecodeAndValidate
from tests.support.keys import key_file
from tests.support.teststream import at, message, new_stream, paused, streaming_pipeline

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
SPAN_ID = "b7ad6b7169203331"
SUBSCRIPTION = "projects/p/subscriptions/clickstream-pipeline"


@pytest.fixture
def exported() -> Iterator[InMemorySpanExporter]:
    """Spans of the configuration below, kept in memory: the real SDK, sampling everything."""
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    tracing.use_provider(tracing.TracingConfig(1.0, "none", SUBSCRIPTION), provider)
    yield spans
    tracing.use_provider(tracing.TracingConfig(1.0, "none", SUBSCRIPTION), None)


def traced(raw: RawMessage) -> RawMessage:
    attributes = {**raw.attributes, attr.TRACEPARENT: f"00-{TRACE_ID}-{SPAN_ID}-01"}
    return RawMessage(raw.data, attributes, raw.message_id, raw.publish_time_ms)


def _run(messages: list[RawMessage], config: tracing.TracingConfig) -> None:
    p = streaming_pipeline()
    _ = (
        p
        | new_stream().add_elements(at(messages)).advance_watermark_to_infinity()
        | DecodeAndValidate(Limits(), config, str(key_file()))
    )
    p.run().wait_until_finish()


def test_each_sampled_message_gets_a_consumer_span_linked_to_its_producer(exported: InMemorySpanExporter) -> None:
    good, bad = paused("ann", 0), paused("ben", 1, position_ms=-1)
    messages = [traced(message(good)), traced(message(bad))]
    _run(messages, tracing.TracingConfig(1.0, "none", SUBSCRIPTION))
    spans = sorted(exported.get_finished_spans(), key=lambda s: s.attributes["messaging.message.id"])
    assert [s.attributes["messaging.message.id"] for s in spans] == sorted(m.message_id for m in messages)
    for span in spans:
        assert span.kind == SpanKind.CONSUMER
        assert span.parent is None  # a link, not a parent (messaging conventions)
        assert format(span.context.trace_id, "032x") != TRACE_ID
        assert [
            (format(link.context.trace_id, "032x"), format(link.context.span_id, "016x")) for link in span.links
        ] == [(TRACE_ID, SPAN_ID)]
        assert span.attributes["messaging.system"] == "gcp_pubsub"
    outcomes = {s.attributes["clickstream.event_id"]: s.attributes["clickstream.outcome"] for s in spans}
    assert outcomes == {good.event_id: "valid", bad.event_id: "dead_letter"}


def test_no_span_when_tracing_is_off(exported: InMemorySpanExporter) -> None:
    _run([traced(message(paused("ann", 0)))], tracing.TracingConfig())
    assert exported.get_finished_spans() == ()
