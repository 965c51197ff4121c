"""DeduplicateEvents: at most one event per event_id, an audit row for every dropped delivery.

Streaming keeps per-event_id state (one key per event, or on the local runner one of a fixed
number of buckets of them) until the watermark is the horizon past the event
(TestStream moves the watermark); batch sees every delivery at once and keeps the earliest
published. Input: decoded event rows stamped with event time, as DecodeAndValidate emits them.
"""

from __future__ import annotations

import re

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from pipelines.transforms import DUPLICATES, EVENTS
from pipelines.transforms.dedup import LOCAL_BUCKETS, DeduplicateEvents
from tests.support.teststream import (
    T0_MS,
    Collect,
    at_event_time,
    batch_pipeline,
    clicked,
    collector,
    decoded,
    new_stream,
    paused,
    secs,
    streaming_pipeline,
)


@pytest.fixture(params=[None, True], ids=["local-runner-buckets", "per-event-keys-as-on-dataflow"])
def per_event_keys(request: pytest.FixtureRequest) -> bool | None:
    """Each streaming test runs both state layouts: the local runner's default (buckets of ids)
    and one key per event (what Dataflow runs)."""
    return request.param


ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def _delivery(row: dict, ts=beam.DoFn.TimestampParam) -> tuple[str, str, int]:
    """(event_id, message_id, element timestamp in ms) of a kept event."""
    return row["event_id"], row["message_id"], ts.micros // 1000


def _dropped(row: dict) -> tuple[str, str, str, str]:
    """What a duplicate row says, less dropped_at (wall-clock time)."""
    assert ISO_MS.match(row["dropped_at"]), row["dropped_at"]
    return row["event_id"], row["message_id"], row["publish_time"], row["event_ts"]


def test_duplicates_are_dropped_across_bundles(per_event_keys: bool | None) -> None:
    event = paused("fay", 0)
    first = decoded(event, message_id="m-1")
    again = decoded(event, publish_delay_ms=900, message_id="m-2")
    much_later = decoded(event, publish_delay_ms=5_000, message_id="m-3")
    stream = (
        new_stream()
        .add_elements(at_event_time([first]))
        .advance_processing_time(1)
        .add_elements(at_event_time([again]))  # redelivered in a later bundle
        .advance_watermark_to(secs(10))
        .add_elements(at_event_time([much_later]))
        .advance_watermark_to_infinity()
    )
    with streaming_pipeline() as p:
        out = p | stream | DeduplicateEvents(horizon_s=600, per_event_keys=per_event_keys)
        assert_that(out[EVENTS] | beam.Map(_delivery), equal_to([(event.event_id, "m-1", T0_MS)]), label="Kept")
        # An audit row per dropped delivery, saying which delivery it was.
        assert_that(
            out[DUPLICATES] | beam.Map(_dropped),
            equal_to(
                [(event.event_id, r["message_id"], r["publish_time"], r["event_ts"]) for r in (again, much_later)]
            ),
            label="Dropped",
        )


def test_event_ids_are_forgotten_once_the_watermark_passes_the_horizon(per_event_keys: bool | None) -> None:
    a, b = paused("gil", 0), clicked("gil", 100)
    stream = (
        new_stream()
        .add_elements(at_event_time([decoded(a, message_id="a-1"), decoded(b, message_id="b-1")]))
        .advance_watermark_to(secs(30))
        .add_elements(at_event_time([decoded(a, publish_delay_ms=30_000, message_id="a-2")]))  # within the horizon
        .advance_watermark_to(secs(61))  # a's state expires at 0 + 60; b's only at 100 + 60
        .advance_processing_time(1)
        .add_elements(
            at_event_time(
                [
                    decoded(a, publish_delay_ms=61_000, message_id="a-3"),  # forgotten: kept again
                    decoded(b, publish_delay_ms=61_000, message_id="b-2"),  # still remembered
                ]
            )
        )
        .advance_watermark_to_infinity()
    )
    with streaming_pipeline() as p:
        out = p | stream | DeduplicateEvents(horizon_s=60, per_event_keys=per_event_keys)
        assert_that(out[EVENTS] | beam.Map(lambda e: e["message_id"]), equal_to(["a-1", "b-1", "a-3"]), label="Kept")
        assert_that(out[DUPLICATES] | beam.Map(lambda d: d["message_id"]), equal_to(["a-2", "b-2"]), label="Dropped")


def test_batch_keeps_the_earliest_published_delivery() -> None:
    event, other = paused("hop", 0), clicked("hop", 30)
    deliveries = [
        decoded(event, publish_delay_ms=900, message_id="m-b"),
        decoded(event, publish_delay_ms=150, message_id="m-c"),
        decoded(other, message_id="m-other"),
        decoded(event, publish_delay_ms=150, message_id="m-a"),  # same publish time as m-c: the id decides
        decoded(event, publish_delay_ms=5_000, message_id="m-0"),
    ]
    with batch_pipeline() as p:
        out = (
            p
            | beam.Create(deliveries)
            | beam.Map(lambda row: at_event_time([row])[0])
            | DeduplicateEvents(horizon_s=60, streaming=False)
        )
        assert_that(
            out[EVENTS] | beam.Map(_delivery),
            equal_to([(event.event_id, "m-a", T0_MS), (other.event_id, "m-other", T0_MS + 30_000)]),
            label="Kept",
        )
        assert_that(
            out[DUPLICATES] | beam.Map(_dropped),
            equal_to(
                [
                    (r["event_id"], r["message_id"], r["publish_time"], r["event_ts"])
                    for r in deliveries
                    if r["message_id"] in ("m-b", "m-c", "m-0")
                ]
            ),
            label="Dropped",
        )


def test_late_redelivery_is_not_stored_twice(per_event_keys: bool | None) -> None:
    """An event two hours behind the watermark, redelivered: the horizon counts from when the
    pipeline saw it, so its state outlives the first watermark advance and the second delivery
    is dropped and audited once."""
    late = paused("ivy", 0, sent_at=T0_MS + 7_200_000)  # buffered offline, sent two hours later
    first = decoded(late, publish_delay_ms=7_200_000, message_id="late-1")
    again = decoded(late, publish_delay_ms=7_260_000, message_id="late-2")
    stream = (
        new_stream()
        .advance_watermark_to(secs(7_200))  # the pipeline is two hours past the event
        .add_elements(at_event_time([first]))
        .advance_watermark_to(secs(7_230))  # an event-time timer at 0 + horizon would fire here
        .advance_processing_time(60)
        .add_elements(at_event_time([again]))
        .advance_watermark_to_infinity()
    )
    with streaming_pipeline() as p:
        out = p | stream | DeduplicateEvents(horizon_s=3600, per_event_keys=per_event_keys)
        assert_that(out[EVENTS] | beam.Map(lambda e: e["message_id"]), equal_to(["late-1"]), label="Kept")
        assert_that(out[DUPLICATES] | beam.Map(lambda d: d["message_id"]), equal_to(["late-2"]), label="Dropped")


def _same_id_from_two_people() -> list[dict]:
    """One event_id sent by two people: a client that reuses ids (a bug) or forges them."""
    mine = paused("kim", 0)
    theirs = paused("lee", 5, event_id=mine.event_id)
    return [decoded(mine, message_id="m-kim"), decoded(theirs, message_id="m-lee")]


def test_an_event_id_reused_by_another_person_is_not_a_duplicate_streaming(per_event_keys: bool | None) -> None:
    """A duplicate is the same person's event sent again: another person's event under the same
    id must not be dropped (nor could a forged id suppress someone else's events)."""
    stream = new_stream().add_elements(at_event_time(_same_id_from_two_people())).advance_watermark_to_infinity()
    with streaming_pipeline() as p:
        out = p | stream | DeduplicateEvents(horizon_s=600, per_event_keys=per_event_keys)
        assert_that(out[EVENTS] | beam.Map(lambda e: e["message_id"]), equal_to(["m-kim", "m-lee"]), label="Kept")
        assert_that(out[DUPLICATES], equal_to([]), label="Dropped")


def test_an_event_id_reused_by_another_person_is_not_a_duplicate_batch() -> None:
    with batch_pipeline() as p:
        out = (
            p
            | beam.Create(_same_id_from_two_people())
            | beam.Map(lambda row: at_event_time([row])[0])
            | DeduplicateEvents(horizon_s=60, streaming=False)
        )
        assert_that(out[EVENTS] | beam.Map(lambda e: e["message_id"]), equal_to(["m-kim", "m-lee"]), label="Kept")
        assert_that(out[DUPLICATES], equal_to([]), label="Dropped")


def _keyed_states(result, label: str) -> int:
    """How many keys the local runner keeps state for in the step ``label``: it never drops a
    key, and it scans every key's timers after each bundle (the profile in docs/local-streaming.md)."""
    states = result._evaluation_context._transform_keyed_states  # the local runner's own bookkeeping
    [step] = [s for s in states if f"/{label}/" in s.full_label]
    return len(states[step])


def test_local_dedup_state_stays_bounded_however_many_event_ids() -> None:
    """On the local runner, one key (state and timer) per event_id made every bundle slower as
    the run went on: 60,000 keys after ten minutes at 100 events/s, none ever dropped."""
    events = [decoded(paused(f"viewer-{i % 50}", i // 10), message_id=f"m-{i}") for i in range(3 * LOCAL_BUCKETS)]
    stream = new_stream().add_elements(at_event_time(events)).advance_watermark_to_infinity()
    key, kept = collector()
    p = streaming_pipeline()
    out = p | stream | DeduplicateEvents(horizon_s=3600)
    _ = out[EVENTS] | beam.ParDo(Collect(key))
    result = p.run()
    result.wait_until_finish()
    assert len(kept) == len(events)
    assert _keyed_states(result, "DropSeen") <= LOCAL_BUCKETS
