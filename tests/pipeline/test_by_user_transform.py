"""ByUser: the batch graph's one grouping by user does what decode, the privacy filter, dedup,
enrichment, impressions routing and sessionization do in batch, each output a tagged output."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.testing.util import assert_that, equal_to

from clickstream.core.reasons import FilterReason, Reason
from pipelines.messages import RawMessage
from pipelines.rules.enrich import enrich
from pipelines.rules.impressions import impression_rows
from pipelines.transforms import DEAD_LETTERS, DUPLICATES, EVENTS, FILTERED, IMPRESSIONS, SESSIONS
from pipelines.transforms.by_user import ByUser, pack, rows_of, unpack
from tests.support.keys import key_file, pseudonym
from tests.support.teststream import CATALOG, T0_MS, batch_pipeline, clicked, decoded, message, paused, shown

GAP_S = 60


def _messages():
    first, click, later = paused("amy", 0), clicked("amy", 20), paused("amy", 200)
    row = shown("amy", 5)
    forgotten = paused("cal", 1)
    garbage = RawMessage(b"\x00garbage", {"schema_version": "1.1"}, "m-garbage", T0_MS)
    again = message(first, publish_delay_ms=2_000, message_id="m-again")
    # The redelivery comes first: the earliest published delivery is kept, whatever the order.
    delivered = [again, message(first), message(click), message(later), message(row), message(forgotten), garbage]
    return delivered, first, click, later, row, forgotten


def test_one_grouping_by_user_gives_every_output_of_the_batch_graph() -> None:
    delivered, first, click, later, row, forgotten = _messages()
    p = batch_pipeline()
    erased = p | "Erased" >> beam.Create([{pseudonym("cal"): T0_MS + 10**9}])
    catalog = p | "Catalog" >> beam.Create([CATALOG])
    out = p | beam.Create(delivered) | ByUser(erased, catalog, pseudonym_key=key_file(), gap_s=GAP_S)
    assert_that(
        out[EVENTS]
        | "EventRows" >> beam.FlatMap(rows_of)
        | "Events" >> beam.Map(lambda e: (e["event_id"], e["message_id"], e["browser_family"])),
        equal_to(
            [
                (first.event_id, message(first).message_id, "Firefox"),
                (click.event_id, message(click).message_id, "Firefox"),
                (later.event_id, message(later).message_id, "Firefox"),
            ]
        ),
        label="EventsEnrichedOncePerEventId",
    )
    assert_that(
        out[IMPRESSIONS]
        | "Impressions" >> beam.FlatMap(rows_of)
        | "ImpressionIds" >> beam.Map(lambda r: (r["event_id"], r["impression_id"], r["catalog_hit"])),
        equal_to([(row.event_id, f"req-1-{k}", k != 3) for k in (1, 2, 3)]),
        label="OneImpressionPerThumbnail",
    )
    assert_that(
        out[SESSIONS]
        | "SessionRows" >> beam.FlatMap(rows_of)
        | "Sessions"
        >> beam.Map(lambda s: (s["user_id"], s["event_count"], s["session_start"], s["pane_timing"], s["is_final"])),
        equal_to(
            [
                (pseudonym("amy"), 2, "2026-01-01T00:00:00.000Z", "ON_TIME", True),
                (pseudonym("amy"), 1, "2026-01-01T00:03:20.000Z", "ON_TIME", True),
            ]
        ),
        label="SessionsCutAtTheGapWithoutWhatWasShown",
    )
    assert_that(
        out[DUPLICATES]
        | "DuplicateRows" >> beam.FlatMap(rows_of)
        | "Duplicates" >> beam.Map(lambda d: (d["event_id"], d["message_id"])),
        equal_to([(first.event_id, "m-again")]),
        label="TheLaterDeliveryIsTheDuplicate",
    )
    assert_that(
        out[DEAD_LETTERS] | "DeadLetters" >> beam.Map(lambda d: (d["reason"], d["message_id"])),
        equal_to([(Reason.UNDECODABLE, "m-garbage")]),
        label="DeadLetters",
    )
    assert_that(
        out[FILTERED] | "Filtered" >> beam.Map(lambda f: (f["event_id"], f["reason"])),
        equal_to([(forgotten.event_id, FilterReason.ERASED_USER)]),
        label="FilteredBeforeDedup",
    )
    result = p.run()
    result.wait_until_finish()
    counters = {c.key.metric.name: c.committed for c in result.metrics().query()["counters"]}
    assert {
        name: counters.get(name)
        for name in (
            "decoded",
            "valid",
            "dead_lettered",
            "filtered_erased_user",
            "unique_events",
            "duplicates_dropped",
            "enriched",
            "thumbnails_shown",
            "impressions",
            "catalog_misses",
            "sessions_emitted",
        )
    } == {
        "decoded": 7,
        "valid": 6,
        "dead_lettered": 1,
        "filtered_erased_user": 1,
        "unique_events": 4,
        "duplicates_dropped": 1,
        "enriched": 4,
        "thumbnails_shown": 1,
        "impressions": 3,
        "catalog_misses": 1,
        "sessions_emitted": 2,
    }


def test_each_output_of_the_grouping_holds_one_element_per_person_the_list_of_their_rows() -> None:
    """A person's rows of each table cross the rest of the batch graph as ONE element, not one
    per row: the runner's cost is per element (docs/benchmarks.md, issue 16). Impressions are
    ``impression_rows`` of each enriched ThumbnailsShown, in order; the sinks explode the lists."""
    amy_shown, bob_shown = shown("amy", 5), shown("bob", 6, videos=("vid-000002", "vid-000001"))
    amy_more = shown("amy", 7, videos=("vid-000003",))
    amy_events = [paused("amy", 0), clicked("amy", 20), paused("amy", 200)]
    again = message(amy_events[0], publish_delay_ms=2_000, message_id="m-again")
    delivered = [message(e) for e in (amy_shown, bob_shown, amy_more, *amy_events)] + [again]
    p = batch_pipeline()
    erased = p | "Erased" >> beam.Create([{}])
    catalog = p | "Catalog" >> beam.Create([CATALOG])
    out = p | beam.Create(delivered) | ByUser(erased, catalog, pseudonym_key=key_file(), gap_s=GAP_S)
    same_time = lambda rows: sorted(({**row, "processed_at": "T"} for row in rows), key=str)  # noqa: E731

    def impressions_of(*events):
        return same_time([row for e in events for row in impression_rows(enrich(decoded(e), CATALOG, "T"))])

    assert_that(
        out[IMPRESSIONS] | "SameTime" >> beam.Map(same_time),
        equal_to([impressions_of(amy_shown, amy_more), impressions_of(bob_shown)]),
        label="ImpressionsPerPerson",
    )
    assert_that(
        out[EVENTS] | "EventIds" >> beam.Map(lambda rows: sorted(r["event_id"] for r in rows)),
        equal_to([sorted(e.event_id for e in amy_events)]),
        label="EventsPerPerson",
    )
    assert_that(
        out[SESSIONS] | "SessionCounts" >> beam.Map(lambda rows: [r["event_count"] for r in rows]),
        equal_to([[2, 1]]),
        label="SessionsPerPerson",
    )
    assert_that(
        out[DUPLICATES] | "DuplicateIds" >> beam.Map(lambda rows: [r["message_id"] for r in rows]),
        equal_to([["m-again"]]),
        label="DuplicatesPerPerson",
    )
    p.run().wait_until_finish()


def test_an_event_crosses_the_grouping_by_user_unchanged_whatever_its_value_types() -> None:
    """Built-in types are marshalled; a subclass of one (marshal refuses it) is pickled: both
    come back equal, with their types."""
    plain = {"event_id": "e", "items": [{"rank": 1, "hit": True, "x": None}], "ids": ("a", b"b"), "f": 0.5}
    subclassed = {**plain, "reason": Reason.NOT_AN_EVENT}
    for event in (plain, subclassed):
        ts_ms, back = unpack(pack(T0_MS, event))
        assert (ts_ms, back) == (T0_MS, event)
        assert [type(v) for v in back.values()] == [type(v) for v in event.values()]
