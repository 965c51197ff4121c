"""The streaming pipeline: Pub/Sub -> decode/validate -> privacy filter -> dedup -> enrich -> sessionize -> BigQuery.

Run locally against the emulator and the BigQuery stand-in (``clickstream local up`` first)::

    clickstream pipeline run --local --idle-stop 60
    # or, spelled out (runs until cancelled):
    PUBSUB_EMULATOR_HOST=127.0.0.1:8085 python -m pipelines.streaming \\
        --input_subscription projects/clickstream-local/subscriptions/clickstream-pipeline \\
        --project clickstream-local --bigquery_endpoint http://127.0.0.1:9050

Run on Dataflow (the Flex Template does this for you)::

    python -m pipelines.streaming --runner DataflowRunner --project P --region R \\
        --input_subscription projects/P/subscriptions/clickstream-pipeline \\
        --temp_location gs://BUCKET/tmp --streaming

Locally the in-process BundleBasedDirectRunner is used explicitly: Beam's default
DirectRunner would first try to download the Prism runner.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.runners.direct.direct_runner import BundleBasedDirectRunner

from pipelines.graph import catalog_input, erased_users_input, process, write_to_bigquery
from pipelines.options import ClickstreamOptions
from pipelines.transforms.decode import from_pubsub

log = logging.getLogger(__name__)


def is_dataflow(options: PipelineOptions) -> bool:
    runner = options.view_as(StandardOptions).runner or ""
    return "dataflow" in str(runner).lower()


def build(pipeline: beam.Pipeline, options: ClickstreamOptions, tap: beam.PTransform | None = None) -> None:
    """Read (the events subscription, and the collector's rejected subscription when set),
    process and write; ``tap`` (optional) sees every message right after the read,
    which is how a local run notices that traffic stopped (``clickstream.app.local.runner``)."""
    if not (options.input_subscription or options.input_topic):
        raise ValueError("set --input_subscription (preferred) or --input_topic")
    # No id_label: with it Dataflow would drop a re-published event_id before the pipeline sees
    # it, leaving no duplicates row and the ledger one message short. Dataflow still drops
    # redeliveries of one message id (one message to the ledger); DeduplicateEvents drops and
    # audits re-published event_ids on every runner.
    messages = (
        pipeline
        | "ReadPubSub"
        >> beam.io.ReadFromPubSub(
            subscription=options.input_subscription,
            topic=None if options.input_subscription else options.input_topic,
            with_attributes=True,
        )
        | "ToRawMessage" >> beam.Map(from_pubsub)
    )
    if tap is not None:
        messages = messages | "Tap" >> tap
    rejected = None
    if options.rejected_subscription:
        # What the HTTP collector refused: each message becomes one `collect` dead letter.
        rejected = (
            pipeline
            | "ReadRejected" >> beam.io.ReadFromPubSub(subscription=options.rejected_subscription, with_attributes=True)
            | "RejectedToRawMessage" >> beam.Map(from_pubsub)
        )
        if tap is not None:
            rejected = rejected | "TapRejected" >> tap
    catalog, erased = catalog_input(pipeline, options), erased_users_input(pipeline, options)
    outputs = process(messages, options, catalog, rejected, erased)
    write_to_bigquery(outputs, options)


def make_options(argv: Sequence[str] | None) -> ClickstreamOptions:
    options = PipelineOptions(argv)
    options.view_as(StandardOptions).streaming = True
    return options.view_as(ClickstreamOptions)


def new_pipeline(options: ClickstreamOptions) -> beam.Pipeline:
    """A pipeline on Dataflow, on the runner the options name, or else on the in-process
    BundleBasedDirectRunner (Beam's default DirectRunner would first try to download Prism)."""
    runner = None if is_dataflow(options) or options.view_as(StandardOptions).runner else BundleBasedDirectRunner()
    return beam.Pipeline(runner=runner, options=options)


def run(argv: Sequence[str] | None = None) -> beam.runners.runner.PipelineResult:
    options = make_options(argv)
    pipeline = new_pipeline(options)
    build(pipeline, options)
    result = pipeline.run()
    if not is_dataflow(options):
        # The local runner works on background threads: returning would end the process
        # (measured: `python -m pipelines.streaming` exited at once otherwise).
        result.wait_until_finish()
    return result


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    run(sys.argv[1:])
