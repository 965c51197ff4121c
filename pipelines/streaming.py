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
import uuid
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


# Wall-clock time of the last message each local run read, by run key. The local runner is
# in-process, so its workers and run() share this module; Dataflow never touches it.
_LAST_MESSAGE: dict[str, float] = {}


def _note_arrival(message, run_key: str):
    _LAST_MESSAGE[run_key] = time.monotonic()
    return message


def build(pipeline: beam.Pipeline, options: ClickstreamOptions, run_key: str | None = None) -> None:
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
    if run_key is not None:
        messages = messages | "NoteArrival" >> beam.Map(_note_arrival, run_key)
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
    local_stop = not is_dataflow(options) and (options.max_runtime_s or options.idle_stop_s)
    run_key = uuid.uuid4().hex if local_stop else None
    build(pipeline, options, run_key)
    result = pipeline.run()
    if local_stop:
        _wait_then_cancel(result, options, run_key)
    elif not is_dataflow(options):
        # The local runner works on background threads: returning would end the process
        # (measured: `python -m pipelines.streaming` exited at once without a stop option).
        result.wait_until_finish()
    return result


def _wait_then_cancel(result, options: ClickstreamOptions, run_key: str) -> None:
    """The local runner's wait_until_finish takes no duration: poll, then cancel.

    Stops at ``max_runtime_s``, or once no message arrived for ``idle_stop_s``. The local
    runner acks on pull, so whatever it pulled and had not written yet is lost on cancel;
    an idle stop makes that window empty. Session windows still open at the stop do not
    fire (their events are in ``events`` already).
    """
    started = time.monotonic()
    while not PipelineState.is_terminal(result.state):
        now = time.monotonic()
        if options.max_runtime_s and now - started >= options.max_runtime_s:
            log.info("max runtime reached; cancelling the local pipeline")
            break
        if options.idle_stop_s and now - max(started, _LAST_MESSAGE.get(run_key, 0.0)) >= options.idle_stop_s:
            log.info("no message for %ss; cancelling the local pipeline", options.idle_stop_s)
            break
        time.sleep(0.5)
    _LAST_MESSAGE.pop(run_key, None)
    result.cancel()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    # Run through the imported module, not __main__: the pipeline's functions are pickled
    # with their module's globals, and a copy of __main__'s _LAST_MESSAGE would never see
    # an arrival (measured: idle stop fired while messages were flowing).
    from pipelines import streaming as _module

    _module.run(sys.argv[1:])
