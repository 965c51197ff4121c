"""Trace and collector columns through the pipeline's transforms (TestStream, as Pub/Sub delivers)."""

from __future__ import annotations

import json
from pathlib import Path

import apache_beam as beam
from apache_beam.testing.util import assert_that, equal_to

from clickstream.core import attributes as attr
from pipelines import replay
from pipelines.archive import to_json_line
from pipelines.messages import RawMessage
from pipelines.transforms import DEAD_LETTERS, EVENTS
from pipelines.transforms.collect import RejectedToDeadLetters
from pipelines.transforms.decode import DecodeAndValidate
from tests.support.keys import key_file
from tests.support.teststream import T0_MS, at, message, new_stream, paused, streaming_pipeline
from tests.support.warehouse_seeds import write_catalog

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
SPAN_ID = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE_ID}-{SPAN_ID}-01"


def traced(raw: RawMessage, traceparent: str = TRACEPARENT, **more: str) -> RawMessage:
    attributes = {**raw.attributes, attr.TRACEPARENT: traceparent, **more}
    return RawMessage(raw.data, attributes, raw.message_id, raw.publish_time_ms)


def _trace(row: dict) -> tuple:
    return row["message_id"], row["trace_id"], row["span_id"]


def test_events_and_dead_letters_carry_the_trace_of_their_message() -> None:
    good = traced(message(paused("ann", 0)), **{attr.EVENT_ID_GENERATED: "true", attr.RECEIVED_AT: str(T0_MS)})
    bad = traced(message(paused("ben", 1, position_ms=-1)))
    untraced_bad_parent = traced(message(paused("cat", 2)), traceparent="00-not-a-trace-01")
    p = streaming_pipeline()
    stream = new_stream().add_elements(at([good, bad, untraced_bad_parent])).advance_watermark_to_infinity()
    out = p | stream | DecodeAndValidate(pseudonym_key=str(key_file()))
    with p:
        assert_that(
            out[EVENTS] | "Events" >> beam.Map(lambda e: (*_trace(e), e["event_id_generated"])),
            equal_to([(good.message_id, TRACE_ID, SPAN_ID, True), (untraced_bad_parent.message_id, None, None, None)]),
            label="EventTraces",
        )
        assert_that(
            out[DEAD_LETTERS] | "Dead" >> beam.Map(_trace),
            equal_to([(bad.message_id, TRACE_ID, SPAN_ID)]),
            label="DeadLetterTraces",
        )


def test_a_rejected_message_keeps_its_trace_on_the_dead_letter() -> None:
    refused = RawMessage(b"[]", {attr.TRACEPARENT: TRACEPARENT, attr.REJECT_REASON: "not_an_event"}, "r-1", T0_MS)
    p = streaming_pipeline()
    rows = (
        p
        | new_stream().add_elements(at([refused])).advance_watermark_to_infinity()
        | RejectedToDeadLetters(str(key_file()))
    )
    with p:
        assert_that(rows | beam.Map(_trace), equal_to([("r-1", TRACE_ID, SPAN_ID)]))


def test_replay_stores_the_trace_that_the_archived_message_carried(tmp_path: Path) -> None:
    archive = tmp_path / "archive.jsonl"
    archive.write_text(to_json_line(traced(message(paused("ann", 0)))) + "\n")
    catalog = write_catalog(tmp_path / "catalog.jsonl", 10)
    requests = tmp_path / "deletion_requests.jsonl"  # nobody forgotten
    requests.write_text("")
    replay.run(
        [
            f"--input={archive}",
            f"--output_dir={tmp_path / 'out'}",
            f"--catalog_path={catalog}",
            f"--deletion_requests_path={requests}",
            f"--max_event_age_s={10 * 365 * 86400}",
            f"--pseudonym_key={key_file()}",
        ]
    )
    events = [json.loads(line) for line in (tmp_path / "out" / "events.jsonl").read_text().splitlines()]
    assert [(e["trace_id"], e["span_id"]) for e in events] == [(TRACE_ID, SPAN_ID)]
