"""Session maths: accumulate, merge in any order, and the row it produces."""

from __future__ import annotations

import itertools
import random

from clickstream.core.tables import table_specs
from pipelines.rules import sessionize as sessions

T0 = 1_767_225_600_000
EVENTS = [
    (T0, "ThumbnailClicked", "v1", None, "home", 1, 1, "d1"),
    (T0 + 5_000, "VideoPaused", "v1", 0.2, None, None, None, "d1"),
    (T0 + 9_000, "VideoPaused", "v1", 0.6, None, None, None, "d2"),
    (T0 + 20_000, "ThumbnailClicked", "v2", None, "up_next", 2, 3, "d1"),
    (T0 + 30_000, "VideoPaused", "v2", None, None, None, None, "d1"),
]


def summarize(events):
    acc = sessions.empty()
    for e in events:
        sessions.add(acc, e)
    return acc


def test_merge_is_order_independent() -> None:
    whole = summarize(EVENTS)
    rng = random.Random(3)
    for _ in range(20):
        shuffled = EVENTS[:]
        rng.shuffle(shuffled)
        cut = rng.randrange(1, len(shuffled))
        parts = [summarize(shuffled[:cut]), sessions.empty(), summarize(shuffled[cut:])]
        for order in itertools.permutations(parts):
            merged = sessions.merge(list(order))
            assert sessions.to_row("u", merged, T0, T0 + 90_000, "ON_TIME", 0, True, T0) == sessions.to_row(
                "u", whole, T0, T0 + 90_000, "ON_TIME", 0, True, T0
            )


def test_row_contents() -> None:
    row = sessions.to_row("u", summarize(EVENTS), T0, T0 + 90_000, "LATE", 2, False, T0 + 100_000)
    assert set(row) == set(table_specs()["sessions"].field_names())
    assert row["duration_s"] == 30.0 and row["event_count"] == 5
    assert row["video_paused_count"] == 3 and row["thumbnail_clicked_count"] == 2
    assert row["videos_paused"] == [
        {"video_id": "v1", "pauses": 2, "max_watch_ratio": 0.6},
        {"video_id": "v2", "pauses": 1, "max_watch_ratio": None},
    ]
    assert [c["video_id"] for c in row["thumbnails_clicked"]] == ["v1", "v2"]
    assert row["devices"] == ["d1", "d2"]
    assert row["session_id"] == sessions.session_id("u", T0)
    assert row["session_id"] != sessions.session_id("u", T0 + 1)
    assert row["session_id"] != sessions.session_id("other", T0)


def test_split_sessions_cuts_where_the_next_event_is_a_gap_or_more_later() -> None:
    def at(s: float) -> sessions.SessionEvent:
        return (T0 + int(s * 1000), "VideoPaused", "v1", None, None, None, None, "d1")

    # 59 s apart: one session; 60 s (the gap) apart: windows [t, t + gap) only touch, two sessions.
    cut = sessions.split_sessions([at(300), at(59), at(0), at(119)], 60_000)
    assert [[e[0] - T0 for e in s] for s in cut] == [[0, 59_000], [119_000], [300_000]]
    assert sessions.split_sessions([], 60_000) == []


def test_session_event_takes_the_timestamp_given_not_the_rows() -> None:
    row = {
        "event_ts": "2026-01-01T01:00:00.000Z",
        "event_type": "ThumbnailClicked",
        "video_id": "v2",
        "watch_ratio": None,
        "surface": "home",
        "slot": 2,
        "rank": 3,
        "device_id": "d1",
    }
    assert sessions.session_event(row, T0) == (T0, "ThumbnailClicked", "v2", None, "home", 2, 3, "d1")
