"""Replay and backfill: the streaming pipeline's transforms in batch over archived messages.

Inputs (``--input``):

* JSON lines or Avro files, local or ``gs://`` (globs allowed): archived Pub/Sub messages,
  see ``pipelines.archive``. A line that is not a message becomes an
  ``unreadable_archive_line`` dead letter (with the line and its file); the rest go through;
* ``bq://project.dataset.dead_letters``: re-process dead letters after a fix (optionally
  ``--dead_letter_filter "reason = 'x'"``).

Outputs: the BigQuery tables (as streaming), or with ``--output_dir`` the files
``events.jsonl``, ``sessions.jsonl``, ``dead_letters.jsonl`` and ``duplicates.jsonl``.

Run::

    clickstream replay --input archive/*.jsonl --output-dir out/
    python -m pipelines.replay --input gs://bucket/archive/*.avro --project P

Batch runs use Beam's in-process FnApiRunner explicitly (the default DirectRunner would
first try to download the Prism runner). Sessions fire once per window (ON_TIME, final).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import apache_beam as beam
from apache_beam.coders import BytesCoder
from apache_beam.metrics import Metrics, MetricsFilter
from apache_beam.options.pipeline_options import GoogleCloudOptions, PipelineOptions, StandardOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.transforms import window

from clickstream.core.bigquery_clients import bigquery_client
from clickstream.core.config import Settings
from clickstream.core.reasons import Reason
from pipelines import archive
from pipelines.graph import Outputs, catalog_input, process, write_to_bigquery
from pipelines.messages import RawMessage, raw_from_dead_letter
from pipelines.options import ClickstreamOptions
from pipelines.transforms import METRICS_NAMESPACE

log = logging.getLogger(__name__)

# Side output of reading: archive entries that are not messages (as dead letters).
UNREADABLE = "unreadable"
TOO_OLD_WITHOUT_PUBLISH_TIME = "too_old_without_publish_time"


class ReplayOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        parser.add_argument("--input", default=None, help="Files (JSON lines or .avro, globs, gs://) or bq://table.")
        parser.add_argument("--output_dir", default=None, help="Write JSON-lines files here instead of BigQuery.")
        parser.add_argument("--dead_letter_filter", default=None, help="SQL condition on dead_letters rows (bq://).")


def _read_entry(element: tuple[str, bytes]) -> Iterator[RawMessage | beam.pvalue.TaggedOutput]:
    """One archive entry -> its message, or (tagged UNREADABLE) the dead letter that keeps it."""
    source, entry = element
    if entry.strip():  # a blank line holds no message
        try:
            yield archive.from_json_line(entry)
        except archive.Unreadable as exc:
            yield beam.pvalue.TaggedOutput(UNREADABLE, archive.unreadable_dead_letter(entry, source, exc))


def read_inputs(
    pipeline: beam.Pipeline, source: str, dead_letter_filter: str | None, options: ClickstreamOptions
) -> tuple[beam.PCollection, beam.PCollection | None]:
    """The input as RawMessages, and the dead letters of entries that are not messages."""
    if source.startswith("bq://"):
        table = source.removeprefix("bq://")
        where = f" WHERE {dead_letter_filter}" if dead_letter_filter else ""
        query = f"SELECT message_id, publish_time, payload, attributes FROM `{table}`{where}"
        endpoint, project = options.bigquery_endpoint, options.view_as(GoogleCloudOptions).project
        rows = (
            pipeline
            | "Query" >> beam.Create([query])
            | "ReadDeadLetters" >> beam.FlatMap(_query_rows, endpoint, project)
        )
        messages = rows | "ToRawMessage" >> beam.Map(raw_from_dead_letter)
        return messages, None
    if source.endswith(".avro"):
        # Each record as a JSON line of our archive format: one reader for every entry.
        entries = (
            pipeline
            | "ReadAvro" >> beam.io.ReadFromAvro(source)
            | "AvroEntries" >> beam.Map(lambda record: (source, archive.avro_entry(record)))
        )
    else:
        entries = pipeline | "ReadLines" >> beam.io.ReadFromTextWithFilename(source, coder=BytesCoder())
    read = entries | "ToRawMessage" >> beam.FlatMap(_read_entry).with_outputs(UNREADABLE, main="messages")
    return read.messages, read[UNREADABLE]


def _query_rows(query: str, endpoint: str | None, project: str | None):
    settings = Settings(project=project or Settings().project, bigquery_endpoint=endpoint)
    for row in bigquery_client(settings).query(query).result():
        yield {**dict(row), "payload": row.payload}


class _CountTooOldWithoutPublishTime(beam.DoFn):
    """Counts the dead letters that exist only because their input had no publish time: the
    decode rules then measure an event's age from now (see ``warnings``)."""

    def __init__(self) -> None:
        self.counter = Metrics.counter(METRICS_NAMESPACE, TOO_OLD_WITHOUT_PUBLISH_TIME)

    def process(self, row: dict[str, Any]):
        if row.get("reason") == Reason.EVENT_TIME_TOO_OLD and row.get("publish_time") is None:
            self.counter.inc()
        yield row


def write_files(outputs: Outputs, output_dir: str) -> None:
    for name in ("events", "sessions", "dead_letters", "duplicates"):
        (
            getattr(outputs, name)
            | f"{name}ToGlobal" >> beam.WindowInto(window.GlobalWindows())
            | f"{name}ToJson" >> beam.Map(lambda row: json.dumps(row, sort_keys=True, default=str))
            | f"Write{name}"
            >> beam.io.WriteToText(
                f"{output_dir.rstrip('/')}/{name}", file_name_suffix=".jsonl", num_shards=1, shard_name_template=""
            )
        )


def warnings(result: beam.runners.runner.PipelineResult, age_flag: str = "--max_event_age_s") -> list[str]:
    """What the user of a finished replay must know, each with its fix."""
    query = result.metrics().query(MetricsFilter().with_name(TOO_OLD_WITHOUT_PUBLISH_TIME))
    too_old = sum(counter.committed or 0 for counter in query["counters"])
    found = []
    if too_old:
        found.append(
            f"{too_old} message(s) without a publish_time were dead-lettered as {Reason.EVENT_TIME_TOO_OLD}: "
            "without a publish time an event's age is measured from now, so replayed traffic older than the "
            f"maximum age is dead-lettered whole. Replay it with {age_flag} set above the age of its oldest "
            "event (in seconds), or give the archive lines their publish_time"
        )
    return found


def run(argv: Sequence[str] | None = None) -> beam.runners.runner.PipelineResult:
    options = PipelineOptions(argv)
    options.view_as(StandardOptions).streaming = False
    replay = options.view_as(ReplayOptions)
    clickstream = options.view_as(ClickstreamOptions)
    if not replay.input:
        raise ValueError("--input is required: files (JSON lines or .avro) or bq://project.dataset.dead_letters")
    runner = None if options.view_as(StandardOptions).runner else FnApiRunner()
    pipeline = beam.Pipeline(runner=runner, options=options)
    messages, unreadable = read_inputs(pipeline, replay.input, replay.dead_letter_filter, clickstream)
    outputs = process(messages, clickstream, catalog_input(pipeline, clickstream))
    dead = (outputs.dead_letters, *([unreadable] if unreadable is not None else [])) | "AllDead" >> beam.Flatten()
    dead = dead | "CountTooOld" >> beam.ParDo(_CountTooOldWithoutPublishTime())
    outputs = dataclasses.replace(outputs, dead_letters=dead)
    if replay.output_dir:
        write_files(outputs, replay.output_dir)
    else:
        write_to_bigquery(outputs, clickstream)
    result = pipeline.run()
    result.wait_until_finish()
    return result


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    for warning in warnings(run(sys.argv[1:])):
        log.warning(warning)
