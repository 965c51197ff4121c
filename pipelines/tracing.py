"""OpenTelemetry in the pipeline: one consumer span per sampled message, linked to its producer.

Set up once per worker process (``DoFn.setup`` calls ``tracer``): one ``TracerProvider`` per
configuration, sampling by trace id at ``--trace_sample_ratio`` and exporting with
``--trace_exporter``. A ratio of 0 (the default) builds nothing and costs one ``if`` per message.

Exporters: ``console`` (stdout, for a local run), ``otlp`` (OTLP over HTTP; the endpoint from
the standard ``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` variables,
default http://localhost:4318), ``gcp`` (Cloud Trace, with the worker's credentials), ``none``
(spans are made but not exported: for measuring the overhead).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import TraceIdRatioBased
from opentelemetry.trace import Link, Span, SpanKind, Tracer

from clickstream.core.span_exporters import span_exporter
from pipelines.messages import RawMessage
from pipelines.rules.tracing import consumer_span_attributes, producer_link

SERVICE_NAME = "clickstream-pipeline"
_INSTRUMENTATION = "clickstream.pipeline"


@dataclass(frozen=True)
class TracingConfig:
    """What ``--trace_sample_ratio``, ``--trace_exporter`` and the subscription say (picklable)."""

    sample_ratio: float = 0.0
    exporter: str = "none"
    subscription: str | None = None
    project: str | None = None  # Cloud Trace's project (gcp)

    @property
    def enabled(self) -> bool:
        return self.sample_ratio > 0


_LOCK = threading.Lock()
_PROVIDERS: dict[TracingConfig, TracerProvider] = {}


def exporter(config: TracingConfig) -> SpanExporter | None:
    """The exporter ``config.exporter`` names (imported only when chosen)."""
    return span_exporter(config.exporter, config.project)


def _new_provider(config: TracingConfig) -> TracerProvider:
    provider = TracerProvider(
        sampler=TraceIdRatioBased(config.sample_ratio), resource=Resource.create({"service.name": SERVICE_NAME})
    )
    span_exporter = exporter(config)
    if span_exporter is not None:
        # Batched, off the processing thread; flushed when the worker process exits.
        provider.add_span_processor(BatchSpanProcessor(span_exporter))
    return provider


def provider(config: TracingConfig) -> TracerProvider:
    """The worker's one provider for ``config`` (DoFn instances of a worker share it)."""
    with _LOCK:
        found = _PROVIDERS.get(config)
        if found is None:
            found = _PROVIDERS[config] = _new_provider(config)
        return found


def use_provider(config: TracingConfig, tracer_provider: TracerProvider | None) -> None:
    """Use ``tracer_provider`` for ``config`` in this process (an embedding application's own
    provider, or a test's in-memory exporter); None forgets it."""
    with _LOCK:
        if tracer_provider is None:
            _PROVIDERS.pop(config, None)
        else:
            _PROVIDERS[config] = tracer_provider


def tracer(config: TracingConfig) -> Tracer | None:
    """This worker's tracer for ``config``, or None when tracing is off."""
    return provider(config).get_tracer(_INSTRUMENTATION) if config.enabled else None


def span_name(config: TracingConfig) -> str:
    """``process <subscription>`` (messaging conventions: operation, then destination)."""
    return f"process {config.subscription.rsplit('/', 1)[-1]}" if config.subscription else "process"


@contextlib.contextmanager
def consumer_span(active: Tracer | None, raw: RawMessage, name: str) -> Iterator[Span | None]:
    """A CONSUMER span for processing ``raw``, linked to the producer's context; None when off."""
    if active is None:
        yield None
        return
    link = producer_link(raw.attributes)
    with active.start_as_current_span(
        name, kind=SpanKind.CONSUMER, links=[Link(link)] if link is not None else None
    ) as span:
        yield span


def describe(
    span: Span | None,
    raw: RawMessage,
    config: TracingConfig,
    event_id: str | None,
    outcome: str,
    reason: str | None = None,
) -> None:
    """Set the messaging attributes on ``span`` once the outcome is known (only when recording)."""
    if span is not None and span.is_recording():
        span.set_attributes(consumer_span_attributes(raw, config.subscription, event_id, outcome, reason))
