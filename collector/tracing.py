"""Trace context for the collector: continue the caller's W3C trace (or start one) and hand it on.

Every published message carries the context in ``googclient_traceparent``, the attribute the
Google Pub/Sub client libraries use, so the pipeline and any Pub/Sub-traced consumer can follow
one click from the page to its row.

With ``tracing_exporter="none"`` (the default) no span is recorded and no OpenTelemetry SDK is
loaded: an incoming ``traceparent`` is handed on as it came, and a request without one gets new
random ids (not sampled). Otherwise each request is an OpenTelemetry SERVER span, child of the
incoming context, sampled ``ParentBased(TraceIdRatioBased(tracing_sample_ratio))`` and exported
to the console or to OTLP (``OTEL_EXPORTER_OTLP_*`` variables say where); the messages carry
that span's context.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from clickstream.core.attributes import trace_ids
from clickstream.core.span_exporters import span_exporter
from collector.config import CollectorConfig

SERVICE_NAME = "clickstream-collector"


@dataclass
class RequestTrace:
    """The context a request's messages carry, and its span when one is recorded."""

    traceparent: str
    span: Any = None

    def annotate(self, **values: object) -> None:
        if self.span is not None and self.span.is_recording():
            self.span.set_attributes({key: value for key, value in values.items() if value is not None})


def _passthrough(traceparent: str | None) -> RequestTrace:
    ids = trace_ids(traceparent)
    if ids is None:
        return RequestTrace(f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-00")
    flags = (traceparent or "").strip().lower().split("-")[3][:2]  # a later version may append fields
    return RequestTrace(f"00-{ids[0]}-{ids[1]}-{flags}")


class Tracing:
    """Per-request trace context; spans only when an exporter is configured (or given, in tests)."""

    def __init__(self, config: CollectorConfig, exporter: Any = None, project: str | None = None) -> None:
        self._tracer: Any = None
        self._provider: Any = None
        if exporter is None and config.tracing_exporter == "none":
            return
        # Imported only when tracing is on: the SDK costs nothing otherwise.
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
        from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self._propagator = TraceContextTextMapPropagator()
        self._provider = TracerProvider(
            sampler=ParentBased(TraceIdRatioBased(config.tracing_sample_ratio)),
            resource=Resource.create({"service.name": SERVICE_NAME}),
        )
        if exporter is not None:
            self._provider.add_span_processor(SimpleSpanProcessor(exporter))
        else:
            chosen = span_exporter(config.tracing_exporter, project)
            self._provider.add_span_processor(BatchSpanProcessor(chosen))
        self._tracer = self._provider.get_tracer("collector")

    @property
    def enabled(self) -> bool:
        return self._tracer is not None

    @contextlib.contextmanager
    def request(self, name: str, traceparent: str | None, tracestate: str | None = None) -> Iterator[RequestTrace]:
        if self._tracer is None:
            yield _passthrough(traceparent)
            return
        from opentelemetry.trace import SpanKind

        carrier = {"traceparent": traceparent} if traceparent else {}
        if traceparent and tracestate:
            carrier["tracestate"] = tracestate
        parent = self._propagator.extract(carrier)
        with self._tracer.start_as_current_span(name, context=parent, kind=SpanKind.SERVER) as span:
            context = span.get_span_context()
            # Only the sampled bit: Trace Context level 1 readers know no other flag (the SDK also sets "random").
            flags = int(context.trace_flags) & 0x01
            yield RequestTrace(f"00-{context.trace_id:032x}-{context.span_id:016x}-{flags:02x}", span)

    def shutdown(self) -> None:
        if self._provider is not None:
            self._provider.shutdown()
