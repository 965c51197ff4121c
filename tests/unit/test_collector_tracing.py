"""Trace context in the collector without a server: passthrough when off, a SERVER span when on."""

from __future__ import annotations

import subprocess
import sys

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from clickstream.core.attributes import trace_ids
from collector.config import CollectorConfig
from collector.tracing import Tracing

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_off_hands_the_incoming_context_on_unchanged() -> None:
    tracing = Tracing(CollectorConfig())
    assert not tracing.enabled
    with tracing.request("POST /v1/events", TRACEPARENT.upper()) as trace:
        assert trace.traceparent == TRACEPARENT
    with tracing.request("POST /v1/events", "garbage") as trace:
        assert trace_ids(trace.traceparent) is not None and trace.traceparent.endswith("-00")


def test_off_hands_a_future_version_on_as_version_00_with_its_flags() -> None:
    # A later version may append fields; what goes on is the four fields version 00 has.
    with Tracing(CollectorConfig()).request("POST /v1/events", TRACEPARENT.replace("00-", "01-", 1) + "-x") as trace:
        assert trace.traceparent == TRACEPARENT


def test_off_does_not_load_the_opentelemetry_sdk() -> None:
    code = (
        "import sys; from collector.app import create_app; from collector.config import CollectorConfig;"
        "from clickstream.core.config import Settings; create_app(CollectorConfig(), Settings());"
        "print(any(m.startswith('opentelemetry.sdk') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_on_records_a_server_span_that_continues_the_incoming_trace() -> None:
    exporter = InMemorySpanExporter()
    tracing = Tracing(CollectorConfig(tracing_sample_ratio=0.0), exporter)
    with tracing.request("POST /v1/events", TRACEPARENT) as trace:
        trace.annotate(**{"http.response.status_code": 202})
    trace_id, span_id = trace_ids(trace.traceparent)
    (span,) = exporter.get_finished_spans()
    assert trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"  # the caller's trace, sampled by the caller
    assert span_id == f"{span.context.span_id:016x}" != "00f067aa0ba902b7"
    assert f"{span.parent.span_id:016x}" == "00f067aa0ba902b7"
    assert span.kind == SpanKind.SERVER and span.attributes["http.response.status_code"] == 202


def test_on_without_a_caller_starts_a_trace_sampled_by_ratio() -> None:
    exporter = InMemorySpanExporter()
    with Tracing(CollectorConfig(tracing_sample_ratio=1.0), exporter).request("POST /v1/events", None) as trace:
        pass
    assert trace.traceparent.endswith("-01") and len(exporter.get_finished_spans()) == 1
    exporter = InMemorySpanExporter()
    with Tracing(CollectorConfig(tracing_sample_ratio=0.0), exporter).request("POST /v1/events", None) as trace:
        pass
    assert trace.traceparent.endswith("-00") and trace_ids(trace.traceparent) is not None
    assert exporter.get_finished_spans() == ()


def test_console_otlp_and_cloud_trace_exporters_are_configurable() -> None:
    # The collector offers the same exporters as the pipeline (clickstream.core.span_exporters),
    # Cloud Trace among them for Cloud Run; building that one needs Google credentials.
    assert CollectorConfig(tracing_exporter="gcp").tracing_exporter == "gcp"
    for exporter in ("console", "otlp"):
        tracing = Tracing(CollectorConfig(tracing_exporter=exporter))
        assert tracing.enabled
        tracing.shutdown()
