"""Pipeline tracing: the consumer span's link and attributes, the options, the exporters."""

from __future__ import annotations

import argparse

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import ConsoleSpanExporter

from clickstream.core import attributes as attr
from clickstream.core.span_exporters import EXPORTERS
from pipelines import tracing
from pipelines.messages import RawMessage
from pipelines.options import ClickstreamOptions
from pipelines.rules.tracing import consumer_span_attributes, producer_link

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"
RAW = RawMessage(
    b"abc", {attr.TRACEPARENT: f"00-{TRACE_ID}-{SPAN_ID}-01", attr.EVENT_ID: "e-1"}, "m-7", 1_767_225_600_000
)


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    ClickstreamOptions._add_argparse_args(parser)
    return parser.parse_args(list(argv))


def test_the_producer_context_of_a_message_is_what_its_span_links_to() -> None:
    link = producer_link(RAW.attributes)
    assert link is not None
    assert (format(link.trace_id, "032x"), format(link.span_id, "016x")) == (TRACE_ID, SPAN_ID)
    assert link.is_remote and link.trace_flags.sampled


@pytest.mark.parametrize("value", [None, "nonsense", f"00-{'0' * 32}-{SPAN_ID}-01"])
def test_a_message_without_a_valid_traceparent_has_nothing_to_link_to(value: str | None) -> None:
    assert producer_link({} if value is None else {attr.TRACEPARENT: value}) is None


def test_the_consumer_span_follows_the_messaging_conventions() -> None:
    attributes = consumer_span_attributes(RAW, "projects/p/subscriptions/clickstream-pipeline", "e-1", "stored", None)
    assert attributes["messaging.system"] == "gcp_pubsub"
    assert attributes["messaging.message.id"] == "m-7"
    assert attributes["messaging.operation.type"] == "process"
    assert attributes["messaging.destination.subscription.name"] == "projects/p/subscriptions/clickstream-pipeline"
    assert attributes["messaging.message.body.size"] == 3
    assert (attributes["clickstream.event_id"], attributes["clickstream.outcome"]) == ("e-1", "stored")
    assert "clickstream.reason" not in attributes


def test_tracing_is_off_by_default_and_costs_no_tracer() -> None:
    args = _parse()
    assert (args.trace_sample_ratio, args.trace_exporter) == (0.0, "none")
    assert tracing.tracer(tracing.TracingConfig()) is None


@pytest.mark.parametrize("ratio", ["-0.1", "1.5", "nan", "half"])
def test_a_sample_ratio_outside_zero_to_one_is_refused_by_name(ratio: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        _parse(f"--trace_sample_ratio={ratio}")
    assert "--trace_sample_ratio" in capsys.readouterr().err


def test_an_unknown_exporter_is_refused() -> None:
    with pytest.raises(SystemExit):
        _parse("--trace_exporter=zipkin")


def test_each_exporter_name_builds_its_exporter() -> None:
    assert tracing.exporter(tracing.TracingConfig(1.0, "none")) is None
    assert isinstance(tracing.exporter(tracing.TracingConfig(1.0, "console")), ConsoleSpanExporter)
    assert isinstance(tracing.exporter(tracing.TracingConfig(1.0, "otlp")), OTLPSpanExporter)
    assert set(EXPORTERS) == {"none", "console", "otlp", "gcp"}


def test_one_tracer_provider_per_worker_and_configuration() -> None:
    config = tracing.TracingConfig(0.5, "none")
    assert tracing.tracer(config) is not None
    assert tracing.provider(config) is tracing.provider(config)
