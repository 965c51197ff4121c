"""pipelines.graph.process: the transforms wired together, with the options they are given.

Each transform has its own test module; this one checks what only the whole graph shows:
every message has exactly one outcome, what one stage hands on is what the next one reads,
and the options reach the transform they are meant for.
"""

from __future__ import annotations

import dataclasses

import apache_beam as beam
from apache_beam.options.pipeline_options import StandardOptions
from apache_beam.testing.util import assert_that, equal_to

from clickstream.core.reasons import Reason
from emitters.events import ShownThumbnail
from pipelines.graph import Outputs, process
from pipelines.messages import RawMessage
from pipelines.rules.decode import Limits
from pipelines.transforms import TABLES
from pipelines.transforms.by_user import GROUPED_OUTPUTS, ByUser
from pipelines.transforms.decode import DecodeAndValidate
from pipelines.transforms.dedup import DeduplicateEvents
from pipelines.transforms.enrich import EnrichEvents
from pipelines.transforms.sessionize import Sessionize
from tests.support.keys import pseudonym
from tests.support.teststream import (
    CATALOG,
    T0_MS,
    at,
    clicked,
    message,
    new_stream,
    options,
    paused,
    pipeline,
    secs,
    shown,
    streaming_pipeline,
    transforms_by_label,
)


def test_the_tables_are_the_graphs_outputs() -> None:
    """``TABLES`` is what replays write, split and take refused rows back into: one name per
    table field of ``Outputs``. The per-person outputs are among them."""
    assert set(TABLES) == {f.name for f in dataclasses.fields(Outputs)} - {"grouped", "lineage"}
    assert set(GROUPED_OUTPUTS) < set(TABLES)


def test_each_option_reaches_its_transform() -> None:
    opts = options(
        session_gap_s=120,
        allowed_lateness_s=900,
        early_firing_s=15,
        dedup_horizon_s=7200,
        max_payload_bytes=1000,
        future_tolerance_s=30,
        max_event_age_s=86400,
        skew_tolerance_s=5,
    )
    p = pipeline(opts)  # built, not run
    catalog = p | "Catalog" >> beam.Create([CATALOG])
    process(p | beam.Create([]), opts, catalog)
    found = transforms_by_label(p)

    decode = found["DecodeAndValidate"]
    assert isinstance(decode, DecodeAndValidate)
    assert decode.limits == Limits(
        max_payload_bytes=1000, future_tolerance_ms=30_000, max_age_ms=86_400_000, skew_tolerance_ms=5_000
    )
    dedup = found["Deduplicate"]
    assert isinstance(dedup, DeduplicateEvents)
    assert (dedup.horizon_s, dedup.streaming) == (7200, True)
    enrich = found["EnrichEvents"]
    assert isinstance(enrich, EnrichEvents) and enrich.catalog is catalog
    sessionize = found["Sessionize"]
    assert isinstance(sessionize, Sessionize)
    assert (sessionize.gap_s, sessionize.allowed_lateness_s, sessionize.early_firing_s, sessionize.streaming) == (
        120,
        900,
        15,
        True,
    )


def test_a_batch_graph_is_one_grouping_by_user_with_every_option() -> None:
    opts = options(session_gap_s=120, max_payload_bytes=1000, max_event_age_s=86400, consent_default="denied")
    opts.view_as(StandardOptions).streaming = False
    p = pipeline(opts)  # built, not run
    catalog = p | "Catalog" >> beam.Create([CATALOG])
    process(p | beam.Create([]), opts, catalog)
    found = transforms_by_label(p)

    by_user = found["ByUser"]
    assert isinstance(by_user, ByUser) and by_user.catalog is catalog
    assert by_user.limits == Limits(max_payload_bytes=1000, max_age_ms=86_400_000)
    assert (by_user.gap_s, by_user.consent_default) == (120, "denied")
    # Batch fires each session once, at the end: none of the streaming stages is built.
    assert not {"DecodeAndValidate", "Deduplicate", "EnrichEvents", "Sessionize"} & set(found)
    assert sum(isinstance(t, beam.GroupByKey) for t in found.values()) == 1


def test_each_message_has_one_outcome_and_sessions_count_unique_events() -> None:
    first, click = paused("amy", 0), clicked("amy", 20)
    miss = paused("cal", 3, video="vid-999999")
    skewed = paused("gus", 3600, sent_at=T0_MS + 3_600_500)  # device clock an hour fast
    invalid = paused("bea", 5, position_ms=-1)
    garbage = RawMessage(
        data=b"\x00garbage", attributes={"schema_version": "1.1"}, message_id="m-garbage", publish_time_ms=T0_MS
    )
    again = message(first, publish_delay_ms=2_000, message_id="m-again")
    delivered = [
        message(first),
        message(click),
        message(miss),
        message(skewed, publish_time_ms=T0_MS + 600),
        message(invalid),
        garbage,
        again,
    ]
    stream = (
        new_stream()
        .add_elements(at(delivered[:-1]))
        .advance_processing_time(1)
        .add_elements(at(delivered[-1:]))  # a redelivery, in a later bundle
        .advance_watermark_to_infinity()
    )
    opts = options()
    with streaming_pipeline(opts) as p:
        out = process(p | stream, opts, p | "Catalog" >> beam.Create([CATALOG]))

        assert_that(
            (out.events, out.duplicates, out.dead_letters)
            | "AllOutcomes" >> beam.Flatten()
            | "MessageIds" >> beam.Map(lambda row: row["message_id"]),
            equal_to([m.message_id for m in delivered]),
            label="OneOutcomePerMessage",
        )
        # Events come out enriched (the catalog side input reached EnrichEvents).
        assert_that(
            out.events | "Events" >> beam.Map(lambda e: (e["event_id"], e["catalog_hit"], e["browser_family"])),
            equal_to(
                [
                    (first.event_id, True, "Firefox"),
                    (click.event_id, True, "Firefox"),
                    (miss.event_id, False, "Firefox"),
                    (skewed.event_id, True, "Firefox"),
                ]
            ),
            label="Events",
        )
        assert_that(
            out.duplicates | "Duplicates" >> beam.Map(lambda d: (d["event_id"], d["message_id"])),
            equal_to([(first.event_id, "m-again")]),
            label="Duplicates",
        )
        assert_that(
            out.dead_letters | "DeadLetters" >> beam.Map(lambda d: (d["reason"], d["message_id"])),
            equal_to([(Reason.NEGATIVE_POSITION, message(invalid).message_id), (Reason.UNDECODABLE, "m-garbage")]),
            label="DeadLetters",
        )
        # Sessions see each event once, at its (corrected) event time.
        assert_that(
            out.sessions
            | beam.Filter(lambda s: s["pane_timing"] == "ON_TIME")
            | "Sessions" >> beam.Map(lambda s: (s["user_id"], s["event_count"], s["session_start"])),
            equal_to(
                [
                    (pseudonym("amy"), 2, "2026-01-01T00:00:00.000Z"),
                    (pseudonym("cal"), 1, "2026-01-01T00:00:03.000Z"),
                    (pseudonym("gus"), 1, "2026-01-01T00:00:00.100Z"),
                ]
            ),
            label="Sessions",
        )


def test_event_too_late_for_its_window_still_lands_in_events() -> None:
    on_time = paused("dave", 0)
    too_late = paused("dave", 10, position_ms=5_000, sent_at=T0_MS + 999_900)
    stream = (
        new_stream()
        .add_elements(at([message(on_time)]))
        .advance_watermark_to(secs(1000))  # window [0, 60) expired at 60 + 300
        .add_elements(at([message(too_late, publish_time_ms=T0_MS + 1_000_000)]))
        .advance_watermark_to_infinity()
    )
    opts = options()
    with streaming_pipeline(opts) as p:
        out = process(p | stream, opts, p | "Catalog" >> beam.Create([CATALOG]))
        # The event itself is kept ...
        assert_that(
            out.events | "EventIds" >> beam.Map(lambda e: e["event_id"]),
            equal_to([on_time.event_id, too_late.event_id]),
            label="Events",
        )
        assert_that(out.dead_letters, equal_to([]), label="NoDeadLetters")
        # ... though its session window had expired.
        assert_that(
            out.sessions | "Panes" >> beam.Map(lambda s: (s["pane_timing"], s["event_count"])),
            equal_to([("ON_TIME", 1)]),
            label="Sessions",
        )


def test_a_thumbnails_shown_ends_as_impressions_not_as_an_event_or_a_session() -> None:
    """What was shown is stored (one impressions row per thumbnail), validated, de-duplicated and
    ledgered like every event, but is no events row and no part of a session."""
    row = shown("amy", 1)  # three thumbnails
    click = clicked("amy", 5)
    bad = shown(
        "bea", 2, items=(ShownThumbnail("vid-000001", "imp-x", 1, 1), ShownThumbnail("vid-000002", "imp-x", 2, 2))
    )
    lone = shown("cal", 3, videos=("vid-000002",))  # a person who was shown a row and did nothing
    delivered = [message(row), message(click), message(bad), message(lone)]
    again = message(row, publish_delay_ms=2_000, message_id="m-row-again")
    stream = (
        new_stream()
        .add_elements(at(delivered))
        .advance_processing_time(1)
        .add_elements(at([again]))
        .advance_watermark_to_infinity()
    )
    opts = options()
    with streaming_pipeline(opts) as p:
        out = process(p | stream, opts, p | "Catalog" >> beam.Create([CATALOG]))
        assert_that(
            out.impressions
            | "Impressions"
            >> beam.Map(lambda r: (r["event_id"], r["impression_id"], r["slot"], r["catalog_hit"], r["message_id"])),
            equal_to(
                [
                    (row.event_id, "req-1-1", 1, True, message(row).message_id),
                    (row.event_id, "req-1-2", 2, True, message(row).message_id),
                    (row.event_id, "req-1-3", 3, False, message(row).message_id),
                    (lone.event_id, "req-1-1", 1, True, message(lone).message_id),
                ]
            ),
            label="ImpressionRows",
        )
        assert_that(
            out.events | "EventIds" >> beam.Map(lambda e: e["event_id"]), equal_to([click.event_id]), label="Events"
        )
        assert_that(
            out.sessions
            | beam.Filter(lambda s: s["pane_timing"] == "ON_TIME")
            | "Sessions" >> beam.Map(lambda s: (s["user_id"], s["event_count"], s["session_start"])),
            equal_to([(pseudonym("amy"), 1, "2026-01-01T00:00:05.000Z")]),
            label="OnlyTheClickMakesASession",
        )
        assert_that(
            out.duplicates | "Duplicates" >> beam.Map(lambda d: (d["event_id"], d["message_id"])),
            equal_to([(row.event_id, "m-row-again")]),
            label="Duplicates",
        )
        assert_that(
            out.dead_letters | "DeadLetters" >> beam.Map(lambda d: (d["reason"], d["event_id"])),
            equal_to([(Reason.DUPLICATE_IMPRESSION_ID, bad.event_id)]),
            label="DeadLetters",
        )
