"""The streaming pipeline: Pub/Sub -> decode/validate -> dedup -> enrich -> sessionize -> BigQuery.

Run locally against the emulator and the BigQuery stand-in (``clickstream local up`` first)::

    clickstream pipeline run --local --max-runtime 120
    # or, spelled out:
    PUBSUB_EMULATOR_HOST=127.0.0.1:8085 python -m pipelines.streaming \\
        --input_subscription projects/clickstream-local/subscriptions/clickstream-pipeline \\
        --project clickstream-local --bigquery_endpoint http://127.0.0.1:9050 --max_runtime_s 120

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
import time
from collections.abc import Sequence

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.runners.direct.direct_runner import BundleBasedDirectRunner
from apache_beam.runners.runner import PipelineState

from pipelines.graph import catalog_input, process, write_to_bigquery
from pipelines.options import ClickstreamOptions
from pipelines.transforms.decode import from_pubsub

log = logging.getLogger(__name__)


def is_dataflow(options: PipelineOptions) -> bool:
    runner = options.view_as(StandardOptions).runner or ""
    return "dataflow" in str(runner).lower()


def build(pipeline: beam.Pipeline, options: ClickstreamOptions) -> None:
    if not (options.input_subscription or options.input_topic):
        raise ValueError("set --input_subscription (preferred) or --input_topic")
    # id_label lets Dataflow drop Pub/Sub redeliveries by event_id; the local runner rejects it.
    id_label = "event_id" if is_dataflow(options) else None
    messages = (
        pipeline
        | "ReadPubSub"
        >> beam.io.ReadFromPubSub(
            subscription=options.input_subscription,
            topic=None if options.input_subscription else options.input_topic,
            with_attributes=True,
            id_label=id_label,
        )
        | "ToRawMessage" >> beam.Map(from_pubsub)
    )
    outputs = process(messages, options, catalog_input(pipeline, options))
    write_to_bigquery(outputs, options)


def make_options(argv: Sequence[str] | None) -> ClickstreamOptions:
    options = PipelineOptions(argv)
    options.view_as(StandardOptions).streaming = True
    return options.view_as(ClickstreamOptions)


def run(argv: Sequence[str] | None = None) -> beam.runners.runner.PipelineResult:
    options = make_options(argv)
    runner = None if is_dataflow(options) or options.view_as(StandardOptions).runner else BundleBasedDirectRunner()
    pipeline = beam.Pipeline(runner=runner, options=options)
    build(pipeline, options)
    result = pipeline.run()
    if options.max_runtime_s and not is_dataflow(options):
        # The local runner's wait_until_finish takes no duration: poll, then cancel.
        deadline = time.monotonic() + options.max_runtime_s
        while time.monotonic() < deadline and not PipelineState.is_terminal(result.state):
            time.sleep(0.5)
        log.info("max runtime reached; cancelling the local pipeline")
        result.cancel()
    return result


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    run(sys.argv[1:])
