"""Pipeline options: every knob of the clickstream pipeline, with its default.

The same names are the Dataflow Flex Template parameters (``terraform/`` and
``metadata.json`` read this list), so keep them snake_case and stable. Table names are not
options: they come from ``schemas/bigquery/tables.json``, the one place that the pipeline,
the SQL and Terraform all read. Knobs that only make sense on the local runner (stopping
after a while, or when idle) belong to ``clickstream.app.local.runner``, not here.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

from apache_beam.options.pipeline_options import GoogleCloudOptions, PipelineOptions

from clickstream.core import identifiers
from clickstream.core.span_exporters import EXPORTERS
from pipelines.rules.decode import Limits
from pipelines.rules.privacy_filter import CONSENT_DEFAULTS
from pipelines.tracing import TracingConfig

WRITE_METHODS = ("INSERT_ALL", "STORAGE_WRITE_API")


def _identifier(kind: str) -> Callable[[str], str]:
    """An argparse type that accepts what ``schemas/identifiers.json`` accepts for ``kind``
    (the rule Terraform's variables use too); argparse names the option in its error."""

    def parse(value: str) -> str:
        why = identifiers.problem(kind, value)
        if why is not None:
            raise argparse.ArgumentTypeError(why)
        return value

    parse.__name__ = kind
    return parse


def _ratio(value: str) -> float:
    """A sampling ratio in [0, 1]; argparse names the option in its error."""
    try:
        ratio = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not (math.isfinite(ratio) and 0 <= ratio <= 1):
        raise argparse.ArgumentTypeError(f"{value} is not between 0 and 1")
    return ratio


_ratio.__name__ = "ratio"


class ClickstreamOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        add = parser.add_argument
        add(
            "--input_subscription",
            default=None,
            help="Pub/Sub subscription to read, projects/<p>/subscriptions/<s>. Preferred: acks survive restarts.",
        )
        add(
            "--rejected_subscription",
            default=None,
            help="Pub/Sub subscription of the events the HTTP collector refused; they become dead_letters rows.",
        )
        add(
            "--input_topic",
            default=None,
            help="Pub/Sub topic to read instead (Beam creates a temporary subscription).",
        )
        add(
            "--bq_project",
            default=None,
            type=_identifier(identifiers.PROJECT_ID),
            help="Project of the BigQuery dataset [the pipeline's project].",
        )
        add("--dataset", default="clickstream", type=_identifier(identifiers.DATASET_ID), help="BigQuery dataset.")
        add(
            "--catalog_path",
            default=None,
            help="Read the catalog from this JSON-lines file instead of BigQuery (tests, replay).",
        )
        add(
            "--catalog_refresh_s",
            type=int,
            default=300,
            help="Streaming: reload the catalog side input this often (seconds).",
        )
        add("--session_gap_s", type=int, default=1800, help="Inactivity gap that closes a session (seconds).")
        add(
            "--allowed_lateness_s",
            type=int,
            default=3 * 86400,
            help="How late an event may arrive and still update its session (seconds).",
        )
        add(
            "--early_firing_s",
            type=int,
            default=60,
            help="Emit a speculative session pane this often (processing time, seconds).",
        )
        add(
            "--dedup_horizon_s",
            type=int,
            default=3600,
            help="Remember event_ids this long (seconds past the later of event and publish time) to drop duplicates.",
        )
        add(
            "--max_payload_bytes",
            type=int,
            default=Limits.max_payload_bytes,
            help="Messages larger than this are dead-lettered as payload_too_large.",
        )
        add(
            "--future_tolerance_s",
            type=int,
            default=Limits.future_tolerance_ms // 1000,
            help="Event times further ahead of publish time than this are dead-lettered.",
        )
        add(
            "--max_event_age_s",
            type=int,
            default=Limits.max_age_ms // 1000,
            help="Events older than this at publish time are dead-lettered.",
        )
        add(
            "--skew_tolerance_s",
            type=int,
            default=Limits.skew_tolerance_ms // 1000,
            help="Client clocks off by more than this are corrected from publish time.",
        )
        add(
            "--bigquery_endpoint",
            default=None,
            help="BigQuery API endpoint, e.g. http://127.0.0.1:9050 for the local stand-in.",
        )
        add(
            "--parked_topic",
            default=None,
            help="Pub/Sub topic for dead letters the dead_letters table refuses (else the bundle fails, is retried).",
        )
        add(
            "--write_method",
            default="INSERT_ALL",
            choices=WRITE_METHODS,
            help="INSERT_ALL (insertId derived from the row; local and Dataflow) or STORAGE_WRITE_API (Dataflow only).",
        )
        add(
            "--pseudonym_key",
            default=None,
            help="Key that pseudonymises user_id and device_id (HMAC-SHA256): a key file, or a Secret Manager "
            "version projects/P/secrets/S/versions/V. Required: the pipeline stores no raw id (docs/privacy.md).",
        )
        add(
            "--consent_default",
            default="granted",
            choices=CONSENT_DEFAULTS,
            help="What an event without a consent record means: granted (stored) or denied (filtered as "
            "consent_denied). Contract revisions before 1.2 carry no consent record.",
        )
        add(
            "--erased_user_suppression_days",
            type=int,
            default=30,
            help="Drop new events of a person this many days after their deletion request (filtered: erased_user).",
        )
        add(
            "--deletion_requests_path",
            default=None,
            help="Read deletion requests from this JSON-lines file instead of BigQuery (tests, replay).",
        )
        add(
            "--trace_sample_ratio",
            type=_ratio,
            default=0.0,
            help="Share of messages that get an OpenTelemetry consumer span, 0..1 (0: tracing off, no cost).",
        )
        add(
            "--trace_exporter",
            default="none",
            choices=EXPORTERS,
            help="Where sampled spans go: none, console (stdout), otlp (OTLP/HTTP, OTEL_EXPORTER_OTLP_ENDPOINT) "
            "or gcp (Cloud Trace).",
        )

    def limits(self) -> Limits:
        return Limits(
            max_payload_bytes=self.max_payload_bytes,
            future_tolerance_ms=self.future_tolerance_s * 1000,
            max_age_ms=self.max_event_age_s * 1000,
            skew_tolerance_ms=self.skew_tolerance_s * 1000,
        )

    def tracing(self) -> TracingConfig:
        """What the tracing options say, with the subscription and project the spans name."""
        return TracingConfig(
            sample_ratio=self.trace_sample_ratio,
            exporter=self.trace_exporter,
            subscription=self.input_subscription or self.input_topic,
            project=self.view_as(GoogleCloudOptions).project,
        )


def option_names() -> list[str]:
    """The pipeline's own option names, read from the parser (Terraform and metadata.json must match)."""
    import argparse

    parser = argparse.ArgumentParser()
    ClickstreamOptions._add_argparse_args(parser)
    return [action.dest for action in parser._actions if action.dest != "help"]
