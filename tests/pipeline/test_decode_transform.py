"""DecodeAndValidate: one output per message, events at event time, dead letters with reasons.

Messages come in as ReadFromPubSub hands them on: stamped with their publish time (TestStream).
"""

from __future__ import annotations

from datetime import UTC, datetime

import apache_beam as beam
from apache_beam.io.gcp.pubsub import PubsubMessage
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.utils.timestamp import Timestamp

from clickstream.core.reasons import Reason, Stage
from pipelines.messages import RawMessage
from pipelines.rules.decode import Limits
from pipelines.transforms import DEAD_LETTERS, EVENTS
from pipelines.transforms.decode import DecodeAndValidate, from_pubsub
from tests.support.keys import key_file
from tests.support.teststream import (
    T0_MS,
    at,
    clicked,
    id_and_timestamp,
    message,
    new_stream,
    paused,
    raw_message,
    streaming_pipeline,
)

GARBAGE = RawMessage(
    data=b"\x00\x01garbage", attributes={"schema_version": "1.1"}, message_id="m-garbage", publish_time_ms=T0_MS
)


def _decode(messages: list[RawMessage], limits: Limits | None = None):
    """(pipeline, outputs) for ``messages`` delivered in one bundle at their publish times."""
    p = streaming_pipeline()
    stream = new_stream().add_elements(at(messages)).advance_watermark_to_infinity()
    return p, p | stream | DecodeAndValidate(limits, pseudonym_key=str(key_file()))


def test_every_message_comes_out_exactly_once_on_one_output() -> None:
    good = [paused("ann", 0), clicked("ann", 5), paused("ben", 9)]
    bad = [paused("ann", 7, position_ms=-1), clicked("ben", 3, slot=0)]
    messages = [message(e) for e in good + bad] + [GARBAGE, raw_message(b"")]
    p, out = _decode(messages)
    with p:
        assert_that(out[EVENTS] | "EventIds" >> beam.Map(lambda e: e["event_id"]), equal_to([e.event_id for e in good]))
        assert_that(
            (out[EVENTS], out[DEAD_LETTERS]) | beam.Flatten() | "MessageIds" >> beam.Map(lambda r: r["message_id"]),
            equal_to([m.message_id for m in messages]),
            label="OneOutcomePerMessage",
        )


def test_invalid_and_undecodable_messages_come_out_as_dead_letters() -> None:
    bad = paused("jay", 0, position_ms=-5)
    p, out = _decode([message(bad), GARBAGE])
    with p:
        assert_that(out[EVENTS], equal_to([]), label="NoEvents")
        assert_that(
            out[DEAD_LETTERS] | beam.Map(lambda d: (d["reason"], d["stage"], d["event_id"], d["message_id"])),
            equal_to(
                [
                    (Reason.NEGATIVE_POSITION, Stage.VALIDATE, bad.event_id, message(bad).message_id),
                    (Reason.UNDECODABLE, Stage.DECODE, None, "m-garbage"),
                ]
            ),
            label="DeadLetters",
        )


def test_the_limits_given_are_the_limits_applied() -> None:
    event = paused("kit", 0)
    p, out = _decode([message(event)], Limits(max_payload_bytes=64))
    with p:
        assert_that(out[EVENTS], equal_to([]), label="NoEvents")
        assert_that(
            out[DEAD_LETTERS] | beam.Map(lambda d: (d["reason"], d["message_id"])),
            equal_to([(Reason.PAYLOAD_TOO_LARGE, message(event).message_id)]),
            label="TooLarge",
        )


def test_events_are_stamped_with_event_time_not_publish_time() -> None:
    # Published 40 s after it happened (a slow network): the element still sits at event time.
    slow = paused("lou", 10, sent_at=T0_MS + 49_000)
    prompt = clicked("lou", 20)
    p, out = _decode([message(slow, publish_time_ms=T0_MS + 50_000), message(prompt)])
    with p:
        assert_that(
            out[EVENTS] | beam.Map(id_and_timestamp),
            equal_to([(slow.event_id, T0_MS + 10_000), (prompt.event_id, T0_MS + 20_000)]),
        )


def test_clock_skew_is_corrected_from_publish_time() -> None:
    hour = 3_600_000
    # The device clock runs an hour fast: event_ts and sent_at are both an hour ahead.
    skewed = paused("gus", 3600, sent_at=T0_MS + hour + 500)
    p, out = _decode([message(skewed, publish_time_ms=T0_MS + 600)])

    def check(events):
        (event,) = events
        assert event["skew_corrected"] is True
        assert event["clock_skew_ms"] == hour - 100
        assert event["event_ts"] == "2026-01-01T00:00:00.100Z"  # publish_time - (sent_at - event_ts)
        assert event["client_event_ts"] == "2026-01-01T01:00:00.000Z"  # kept as the client stamped it

    with p:
        assert_that(out[EVENTS], check, label="Row")
        # The corrected time, not the client's, is the element's event time downstream.
        assert_that(out[EVENTS] | beam.Map(id_and_timestamp), equal_to([(skewed.event_id, T0_MS + 100)]), label="Time")
        assert_that(out[DEAD_LETTERS], equal_to([]), label="NoDeadLetters")


def test_from_pubsub_reads_the_publish_time_beam_gives() -> None:
    data, attributes = message(paused("max", 0)).data, {"schema_version": "1.1"}
    as_datetime = PubsubMessage(
        data, attributes, message_id="m-1", publish_time=datetime.fromtimestamp(T0_MS / 1000, UTC)
    )
    as_timestamp = PubsubMessage(data, attributes, message_id="m-2", publish_time=Timestamp(micros=(T0_MS + 7) * 1000))
    assert from_pubsub(as_datetime) == RawMessage(data, attributes, "m-1", T0_MS)
    assert from_pubsub(as_timestamp) == RawMessage(data, attributes, "m-2", T0_MS + 7)
    # Attributes only (no data, no publish time): an empty payload, which decode dead-letters.
    assert from_pubsub(PubsubMessage(None, attributes)) == RawMessage(b"", attributes, None, None)
