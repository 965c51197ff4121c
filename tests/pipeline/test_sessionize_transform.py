"""Every lateness class of the session windows, on TestStream (event time under test control).

Windows: Sessions(60 s), early panes every 10 s of processing time, allowed lateness 300 s,
accumulating panes. Event time 0 is T0.
"""

from __future__ import annotations

from pipelines.messages import RawMessage
from pipelines.rules.sessionize import session_id
from tests.support.teststream import T0_MS, at, clicked, message, new_stream, panes, paused, run_stream, secs


def test_on_time_pane_when_the_watermark_passes_the_session() -> None:
    stream = (
        new_stream()
        .add_elements(at([message(paused("alice", 0)), message(clicked("alice", 20))]))
        .advance_watermark_to(secs(200))
        .advance_watermark_to_infinity()
    )
    events, sessions, dead = run_stream(stream)
    assert len(events) == 2 and dead == []
    (pane,) = panes(sessions, "alice")
    assert pane["pane_timing"] == "ON_TIME"
    assert pane["event_count"] == 2 and pane["video_paused_count"] == 1 and pane["thumbnail_clicked_count"] == 1
    assert pane["duration_s"] == 20.0
    assert pane["session_id"] == session_id("alice", T0_MS)


def test_early_pane_fires_before_the_session_closes() -> None:
    stream = (
        new_stream()
        .add_elements(at([message(paused("bob", 0))]))
        .advance_processing_time(11)
        .add_elements(at([message(paused("bob", 30, position_ms=90_000))]))
        .advance_processing_time(11)
        .advance_watermark_to(secs(300))
        .advance_watermark_to_infinity()
    )
    _, sessions, _ = run_stream(stream)
    timings = [(p["pane_timing"], p["event_count"]) for p in panes(sessions, "bob")]
    assert timings[0] == ("EARLY", 1)
    assert timings[-1] == ("ON_TIME", 2)  # accumulating: the on-time pane holds everything
    # Beam restarts pane indexes when windows merge (the second event extended the session),
    # so emitted_at, not pane_index, orders the panes of a session across merges.
    assert all(t == "EARLY" for t, _ in timings[:-1])


def test_late_event_within_allowed_lateness_fires_a_late_pane() -> None:
    stream = (
        new_stream()
        .add_elements(at([message(paused("carol", 0))]))
        .advance_watermark_to(secs(100))  # window [0, 60) is on time and fired
        # Buffered offline: it happened at 30 s and was sent (and published) at 100 s.
        .add_elements(
            at(
                [
                    message(
                        paused("carol", 30, position_ms=120_000, sent_at=T0_MS + 99_900),
                        publish_time_ms=T0_MS + 100_000,
                    )
                ]
            )
        )
        .advance_watermark_to(secs(150))
        .advance_watermark_to_infinity()
    )
    events, sessions, _ = run_stream(stream)
    assert len(events) == 2
    timeline = [(p["pane_timing"], p["event_count"]) for p in panes(sessions, "carol")]
    assert timeline == [("ON_TIME", 1), ("LATE", 2)]
    late = panes(sessions, "carol")[-1]
    assert late["videos_paused"] == [{"video_id": "vid-000001", "pauses": 2, "max_watch_ratio": 0.5}]


def test_event_too_late_for_its_window_still_lands_in_events() -> None:
    too_late = paused("dave", 10, position_ms=5_000, sent_at=T0_MS + 999_900)
    stream = (
        new_stream()
        .add_elements(at([message(paused("dave", 0))]))
        .advance_watermark_to(secs(1000))  # window [0, 60) expired at 60 + 300
        .add_elements(at([message(too_late, publish_time_ms=T0_MS + 1_000_000)]))
        .advance_watermark_to_infinity()
    )
    events, sessions, dead = run_stream(stream)
    assert too_late.event_id in {e["event_id"] for e in events}  # the event itself is kept
    assert dead == []
    assert [(p["pane_timing"], p["event_count"]) for p in panes(sessions, "dave")] == [("ON_TIME", 1)]


def test_late_event_merges_two_fired_sessions_into_one() -> None:
    stream = (
        new_stream()
        .add_elements(at([message(paused("erin", 0)), message(clicked("erin", 100))]))
        .advance_watermark_to(secs(250))  # [0,60) and [100,160) fired on time
        .add_elements(
            at(
                [
                    message(
                        paused("erin", 50, sent_at=T0_MS + 249_900),  # bridges both
                        publish_time_ms=T0_MS + 250_000,
                    )
                ]
            )
        )
        .advance_watermark_to(secs(300))
        .advance_watermark_to_infinity()
    )
    _, sessions, _ = run_stream(stream)
    erin = panes(sessions, "erin")
    on_time = [p for p in erin if p["pane_timing"] == "ON_TIME"]
    assert sorted(p["event_count"] for p in on_time) == [1, 1]
    merged = erin[-1]
    assert merged["pane_timing"] == "LATE" and merged["event_count"] == 3
    assert merged["session_start"].startswith("2026-01-01T00:00:00") and merged["duration_s"] == 100.0
    # The merged window starts where the first session started: it keeps that session's id.
    assert merged["session_id"] == session_id("erin", T0_MS)
    assert {p["session_id"] for p in on_time} == {session_id("erin", T0_MS), session_id("erin", T0_MS + 100_000)}


def test_duplicates_are_dropped_across_bundles() -> None:
    event = paused("fay", 0)
    stream = (
        new_stream()
        .add_elements(at([message(event)]))
        .advance_processing_time(1)
        .add_elements(at([message(event, publish_delay_ms=900)]))  # redelivered in a later bundle
        .advance_watermark_to(secs(10))
        .add_elements(at([message(event, publish_delay_ms=5_000)]))
        .advance_watermark_to_infinity()
    )
    events, sessions, _, duplicates = run_stream(stream, with_duplicates=True)
    assert [e["event_id"] for e in events] == [event.event_id]
    assert [d["event_id"] for d in duplicates] == [event.event_id] * 2  # an audit row per dropped delivery
    assert sum(p["event_count"] for p in panes(sessions, "fay") if p["pane_timing"] == "ON_TIME") == 1


def test_clock_skew_is_corrected_from_publish_time() -> None:
    hour = 3_600_000
    # The device clock runs an hour fast: event_ts and sent_at are both an hour ahead.
    skewed = paused("gus", 3600, sent_at=T0_MS + hour + 500)
    stream = (
        new_stream().add_elements(at([message(skewed, publish_time_ms=T0_MS + 600)])).advance_watermark_to_infinity()
    )
    events, _, dead = run_stream(stream)
    assert dead == []
    (event,) = events
    assert event["skew_corrected"] is True
    assert event["clock_skew_ms"] == hour - 100
    assert event["event_ts"] == "2026-01-01T00:00:00.100Z"  # publish_time - (sent_at - event_ts)
    assert event["client_event_ts"] == "2026-01-01T01:00:00.000Z"  # kept as the client stamped it


def test_catalog_hit_and_miss_are_flagged_not_dropped() -> None:
    stream = (
        new_stream()
        .add_elements(
            at(
                [
                    message(paused("hal", 0, video="vid-000001")),
                    message(paused("hal", 5, video="vid-999999", position_ms=1000)),
                ]
            )
        )
        .advance_watermark_to_infinity()
    )
    events, _, _ = run_stream(stream)
    by_video = {e["video_id"]: e for e in events}
    hit, miss = by_video["vid-000001"], by_video["vid-999999"]
    assert hit["catalog_hit"] and hit["video_title"] == "One" and hit["video_duration_ms"] == 240_000
    assert hit["watch_ratio"] == 0.25
    assert hit["browser_family"] == "Firefox" and hit["os_family"] == "Linux"
    assert not miss["catalog_hit"] and miss["video_title"] is None and miss["watch_ratio"] is None


def test_session_ids_are_deterministic_across_runs() -> None:
    def once():
        stream = (
            new_stream()
            .add_elements(at([message(paused("ivy", 0)), message(clicked("ivy", 30)), message(paused("ivy", 500))]))
            .advance_watermark_to_infinity()
        )
        return sorted(p["session_id"] for p in run_stream(stream)[1])

    first = once()
    assert first == once()
    assert len(first) == 2


def test_invalid_and_undecodable_messages_come_out_as_dead_letters() -> None:
    bad = paused("jay", 0, position_ms=-5)
    garbage = RawMessage(
        data=b"\x00\x01garbage", attributes={"schema_version": "1.1"}, message_id="m-garbage", publish_time_ms=T0_MS
    )
    stream = new_stream().add_elements(at([message(bad), garbage])).advance_watermark_to_infinity()
    events, _, dead = run_stream(stream)
    assert events == []
    by_reason = {d["reason"]: d for d in dead}
    assert set(by_reason) == {"negative_position", "undecodable"}
    assert by_reason["negative_position"]["event_id"] == bad.event_id
    assert by_reason["negative_position"]["stage"] == "validate"
    assert by_reason["undecodable"]["stage"] == "decode"
    assert by_reason["undecodable"]["message_id"] == "m-garbage"
