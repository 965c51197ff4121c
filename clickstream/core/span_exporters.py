"""Where spans go, chosen by name: the one list the collector and the pipeline both offer.

``gcp`` is Cloud Trace (on Google Cloud), ``otlp`` an OpenTelemetry collector over HTTP
(``OTEL_EXPORTER_OTLP_ENDPOINT``, default ``http://localhost:4318``), ``console`` prints
them; ``none`` exports nothing. Each exporter is imported only when chosen (the ``tracing``
extra brings the otlp and gcp ones).
"""

from __future__ import annotations

from typing import Any

EXPORTERS = ("none", "console", "otlp", "gcp")


def span_exporter(name: str, project: str | None = None) -> Any:
    """The SpanExporter ``name`` stands for, or None for ``none``."""
    if name == "none":
        return None
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if name == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    if name == "gcp":
        from opentelemetry.exporter.cloud_trace import CloudTraceSpanExporter

        return CloudTraceSpanExporter(project_id=project)
    raise ValueError(f"unknown trace exporter {name!r}: one of {', '.join(EXPORTERS)}")
