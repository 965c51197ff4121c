"""Sessionize: per-user session windows in event time, and every lateness class of their panes.

The transform alone on TestStream (event and processing time under test control): its input
is enriched event rows stamped with event time, as EnrichEvents hands them on. Windows:
Sessions(60 s), an early pane every 10 s of processing time, allowed lateness 300 s,
accumulating panes. Event time 0 is T0. Batch mode cuts the same sessions without windows.
"""

from __future__ import annotations

from dataclasses import replace

import apache_beam as beam
from apache_beam.testing.util import assert_that, equal_to

from pipelines.rules.sessionize import session_id
from pipelines.timefmt import iso
from pipelines.transforms.sessionize import Sessionize
from tests.support.keys import pseudonym
from tests.support.teststream import (
    T0_MS,
    at_event_time,
    batch_pipeline,
    clicked,
    enriched,
    new_stream,
    panes,
    paused,
    secs,
    streaming_pipeline,
)

GAP_S, LATENESS_S, EARLY_S = 60, 300, 10


def _sessionize(stream, check) -> None:
    """Run ``stream`` through Sessionize and hand every session row it emitted to ``check``."""
    with streaming_pipeline() as p:
        rows = p | stream | Sessionize(GAP_S, LATENESS_S, EARLY_S)
        assert_that(rows, check)


def test_on_time_pane_when_the_watermark_passes_the_session() -> None:
    stream = (
        new_stream()
        .add_elements(at_event_time([enriched(paused("alice", 0)), enriched(clicked("alice", 20))]))
        .advance_watermark_to(secs(200))
        .advance_watermark_to_infinity()
    )

    def check(rows):
        (pane,) = panes(rows, "alice")
        assert pane["pane_timing"] == "ON_TIME"
        assert pane["event_count"] == 2 and pane["video_paused_count"] == 1 and pane["thumbnail_clicked_count"] == 1
        assert pane["duration_s"] == 20.0
        assert pane["session_id"] == session_id(pseudonym("alice"), T0_MS)
        assert pane["window_end"] == "2026-01-01T00:01:20.000Z"  # last event + gap

    _sessionize(stream, check)


def test_early_pane_fires_before_the_session_closes() -> None:
    stream = (
        new_stream()
        .add_elements(at_event_time([enriched(paused("bob", 0))]))
        .advance_processing_time(11)
        .add_elements(at_event_time([enriched(paused("bob", 30, position_ms=90_000))]))
        .advance_processing_time(11)
        .advance_watermark_to(secs(300))
        .advance_watermark_to_infinity()
    )

    def check(rows):
        timings = [(p["pane_timing"], p["event_count"]) for p in panes(rows, "bob")]
        assert timings[0] == ("EARLY", 1)
        assert timings[-1] == ("ON_TIME", 2)  # accumulating: the on-time pane holds everything
        # Beam restarts pane indexes when windows merge (the second event extended the session),
        # so emitted_at, not pane_index, orders the panes of a session across merges.
        assert all(t == "EARLY" for t, _ in timings[:-1])

    _sessionize(stream, check)


def test_late_event_within_allowed_lateness_fires_a_late_pane() -> None:
    stream = (
        new_stream()
        .add_elements(at_event_time([enriched(paused("carol", 0))]))
        .advance_watermark_to(secs(100))  # window [0, 60) is on time and fired
        # Buffered offline: it happened at 30 s and reaches the pipeline at 100 s.
        .add_elements(
            at_event_time(
                [
                    enriched(
                        paused("carol", 30, position_ms=120_000, sent_at=T0_MS + 99_900),
                        publish_time_ms=T0_MS + 100_000,
                    )
                ]
            )
        )
        .advance_watermark_to(secs(150))
        .advance_watermark_to_infinity()
    )

    def check(rows):
        carol = panes(rows, "carol")
        assert [(p["pane_timing"], p["event_count"]) for p in carol] == [("ON_TIME", 1), ("LATE", 2)]
        assert carol[-1]["videos_paused"] == [{"video_id": "vid-000001", "pauses": 2, "max_watch_ratio": 0.5}]

    _sessionize(stream, check)


def test_event_too_late_for_its_window_is_left_out_of_sessions() -> None:
    # That the event itself still lands in ``events`` is the graph's part: test_graph.py.
    too_late = enriched(
        paused("dave", 10, position_ms=5_000, sent_at=T0_MS + 999_900), publish_time_ms=T0_MS + 1_000_000
    )
    stream = (
        new_stream()
        .add_elements(at_event_time([enriched(paused("dave", 0))]))
        .advance_watermark_to(secs(1000))  # window [0, 60) expired at 60 + 300
        .add_elements(at_event_time([too_late]))
        .advance_watermark_to_infinity()
    )

    def check(rows):
        assert [(p["pane_timing"], p["event_count"]) for p in panes(rows, "dave")] == [("ON_TIME", 1)]

    _sessionize(stream, check)


def test_late_event_merges_two_fired_sessions_into_one() -> None:
    stream = (
        new_stream()
        .add_elements(at_event_time([enriched(paused("erin", 0)), enriched(clicked("erin", 100))]))
        .advance_watermark_to(secs(250))  # [0,60) and [100,160) fired on time
        .add_elements(
            at_event_time(
                [enriched(paused("erin", 50, sent_at=T0_MS + 249_900), publish_time_ms=T0_MS + 250_000)]  # bridges both
            )
        )
        .advance_watermark_to(secs(300))
        .advance_watermark_to_infinity()
    )

    def check(rows):
        erin = panes(rows, "erin")
        on_time = [p for p in erin if p["pane_timing"] == "ON_TIME"]
        assert sorted(p["event_count"] for p in on_time) == [1, 1]
        merged = erin[-1]
        assert merged["pane_timing"] == "LATE" and merged["event_count"] == 3
        assert merged["session_start"].startswith("2026-01-01T00:00:00") and merged["duration_s"] == 100.0
        # The merged window starts where the first session started: it keeps that session's id.
        assert merged["session_id"] == session_id(pseudonym("erin"), T0_MS)
        assert {p["session_id"] for p in on_time} == {
            session_id(pseudonym("erin"), T0_MS),
            session_id(pseudonym("erin"), T0_MS + 100_000),
        }

    _sessionize(stream, check)


def test_session_ids_are_deterministic_across_runs() -> None:
    # Each run must give the ids that the user and window start alone determine.
    expected = [session_id(pseudonym("ivy"), T0_MS), session_id(pseudonym("ivy"), T0_MS + 500_000)]
    for _ in range(2):
        stream = (
            new_stream()
            .add_elements(
                at_event_time([enriched(paused("ivy", 0)), enriched(clicked("ivy", 30)), enriched(paused("ivy", 500))])
            )
            .advance_watermark_to_infinity()
        )
        with streaming_pipeline() as p:
            rows = p | stream | Sessionize(GAP_S, LATENESS_S, EARLY_S)
            assert_that(rows | beam.Map(lambda r: r["session_id"]), equal_to(expected))


def _summary(row: dict) -> tuple:
    return row["session_id"], row["session_start"], row["session_end"], row["window_end"], row["event_count"]


# Events 59 s apart share a session; 60 s (the gap) apart do not: each event opens
# [t, t + gap), and windows that only touch do not merge.
_GAP_EVENTS = [paused("kim", 0), clicked("kim", 59), paused("kim", 119), clicked("kim", 300)]


def _session(start_s: int, end_s: int, count: int) -> tuple:
    """(session_id, session_start, session_end, window_end, event_count) of kim's session."""
    return (
        session_id(pseudonym("kim"), T0_MS + start_s * 1000),
        iso(T0_MS + start_s * 1000),
        iso(T0_MS + end_s * 1000),
        iso(T0_MS + (end_s + GAP_S) * 1000),
        count,
    )


_GAP_SESSIONS = [_session(0, 59, 2), _session(119, 119, 1), _session(300, 300, 1)]


def test_the_gap_separates_sessions() -> None:
    stream = (
        new_stream().add_elements(at_event_time([enriched(e) for e in _GAP_EVENTS])).advance_watermark_to_infinity()
    )
    with streaming_pipeline() as p:
        rows = p | stream | Sessionize(GAP_S, LATENESS_S, EARLY_S)
        assert_that(rows | beam.Map(_summary), equal_to(_GAP_SESSIONS))


def test_batch_cuts_the_same_sessions_once_each_and_final() -> None:
    with batch_pipeline() as p:
        rows = (
            p
            | beam.Create([enriched(e) for e in reversed(_GAP_EVENTS)])
            | beam.Map(lambda row: at_event_time([row])[0])
            | Sessionize(GAP_S, LATENESS_S, early_firing_s=0, streaming=False)
        )
        assert_that(rows | "Summary" >> beam.Map(_summary), equal_to(_GAP_SESSIONS), label="Sessions")
        assert_that(
            rows | "Panes" >> beam.Map(lambda r: (r["pane_timing"], r["pane_index"], r["is_final"])),
            equal_to([("ON_TIME", 0, True)] * 3),
            label="OnePanePerSession",
        )


GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def _bot(event):
    """``event`` sent by a crawler: enrichment marks it ``is_bot``."""
    return replace(event, client=replace(event.client, user_agent=GOOGLEBOT))


def test_a_bot_makes_no_session_in_streaming_or_batch() -> None:
    rows = [enriched(paused("liz", 0)), enriched(_bot(paused("bot", 0))), enriched(_bot(clicked("liz", 10)))]
    assert [r["is_bot"] for r in rows] == [False, True, True]
    liz = rows[0]["user_id"]  # her pseudonym
    stream = new_stream().add_elements(at_event_time(rows)).advance_watermark_to_infinity()
    with streaming_pipeline() as p:
        sessions = p | stream | Sessionize(GAP_S, LATENESS_S, EARLY_S)
        # liz's session counts her own event only; the bot has none.
        assert_that(
            sessions | beam.Map(lambda r: (r["user_id"], r["event_count"])), equal_to([(liz, 1)]), label="Streaming"
        )
    with batch_pipeline() as p:
        sessions = (
            p
            | beam.Create(rows)
            | beam.Map(lambda row: at_event_time([row])[0])
            | Sessionize(GAP_S, LATENESS_S, early_firing_s=0, streaming=False)
        )
        assert_that(sessions | beam.Map(lambda r: (r["user_id"], r["event_count"])), equal_to([(liz, 1)]))
