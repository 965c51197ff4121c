"""The signal job against the stand-in: seeded inputs, expected rows worked out by hand.

as_of = 2026-03-01T00:00Z, half-life 7 days, lookback 28 days unless a test says otherwise.
decay(7 days) = 0.5, decay(14 days) = 0.25, decay(0) = 1.
"""

from __future__ import annotations

import math

import pytest

from clickstream.app.signals import SIGNALS, SignalParams, run_signals
from clickstream.core.bigquery_clients import bigquery_client
from clickstream.core.config import Settings
from tests.support.warehouse_seeds import AS_OF, catalog_row, event, fresh_dataset, load, load_visits, ts, visit

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def seeded(stack: Settings) -> Settings:
    settings = fresh_dataset(stack)
    duplicate_id = "11111111-1111-4111-8111-111111111111"
    # v2 is a known video of unknown duration (NULL, as the pipeline's catalog file may say)
    load(settings, "video_catalog", [catalog_row("v3", 100_000), catalog_row("v2", None)])
    load(
        settings,
        "events",
        [
            # u1 / v1: clicks 7 and 14 days ago (0.5 + 0.25), pauses now (0.5 * 1) and 7 days ago (capped 1.0 * 0.5)
            event("u1", "v1", "ThumbnailClicked", ts(7)),
            event("u1", "v1", "ThumbnailClicked", ts(14), event_id=duplicate_id),
            event("u1", "v1", "ThumbnailClicked", ts(14), event_id=duplicate_id, processed_at=ts(13)),  # a duplicate
            event("u1", "v1", "VideoPaused", ts(0), position_ms=120_000, duration_ms=240_000),
            event("u1", "v1", "VideoPaused", ts(7), position_ms=300_000, duration_ms=240_000),
            event("u1", "v1", "ThumbnailClicked", ts(28)),  # exactly at the lower edge: excluded
            event("u1", "v1", "ThumbnailClicked", ts(0, seconds_after=1)),  # after as_of: excluded
            # u1 / v2: a pause with no duration anywhere (the catalog's is NULL) contributes nothing -> score 0, no row
            event("u1", "v2", "VideoPaused", ts(14), position_ms=50_000),
            # u1 / v3: duration from the catalog: 50_000 / 100_000 * 0.5
            event("u1", "v3", "VideoPaused", ts(7), position_ms=50_000),
            # u2
            event("u2", "v2", "ThumbnailClicked", ts(0)),
            event("u2", "v4", "ThumbnailClicked", ts(7)),
        ],
    )
    run_signals(bigquery_client(settings), settings, SignalParams(as_of=AS_OF))
    return settings


def _visit(at: str, paused: list[str], clicked: list[str]) -> tuple[dict, list[dict]]:
    return visit("s", [(v, "VideoPaused", at) for v in paused] + [(v, "ThumbnailClicked", at) for v in clicked])


@pytest.fixture(scope="module")
def similar(stack: Settings) -> Settings:
    """Sessions (and the events they hold) for video_similarity, in a dataset of their own."""
    settings = fresh_dataset(stack)
    load_visits(
        settings,
        [
            _visit(ts(1), ["a"], ["b", "c"]),
            _visit(ts(2), ["a", "b"], []),
            _visit(ts(3), [], ["a", "c"]),
            _visit(ts(4), ["b"], ["c", "d"]),
            _visit(ts(30), ["a", "d"], []),  # outside the lookback
        ],
    )
    run_signals(bigquery_client(settings), settings, SignalParams(as_of=AS_OF))
    return settings


def rows(settings: Settings, table: str, order: str, as_of=AS_OF) -> list[dict]:
    client = bigquery_client(settings)
    from google.cloud import bigquery

    job = client.query(
        f"SELECT * EXCEPT (as_of) FROM `{settings.table_id(table)}` WHERE as_of = @as_of ORDER BY {order}",
        job_config=bigquery.QueryJobConfig(
            query_parameters=[bigquery.ScalarQueryParameter("as_of", "TIMESTAMP", as_of)]
        ),
    )
    return [dict(r) for r in job.result()]


def test_affinity_decay_cap_unknown_duration_dedup_and_lookback_edges(seeded: Settings) -> None:
    got = {(r["user_id"], r["video_id"]): r for r in rows(seeded, "user_video_affinity", "user_id, video_id")}
    assert set(got) == {("u1", "v1"), ("u1", "v3"), ("u2", "v2"), ("u2", "v4")}  # u1/v2 scored 0
    v1 = got[("u1", "v1")]
    assert v1["score"] == pytest.approx(1.0 * (0.5 + 0.25) + 2.0 * max(0.5 * 1.0, 1.0 * 0.5))
    assert (v1["clicks"], v1["pauses"], v1["max_watch_ratio"]) == (2, 2, 1.0)  # capped; edges and duplicate out
    assert got[("u1", "v3")]["score"] == pytest.approx(2.0 * 0.5 * 0.5)
    assert got[("u1", "v3")]["max_watch_ratio"] == pytest.approx(0.5)
    assert got[("u2", "v2")]["score"] == pytest.approx(1.0)
    assert got[("u2", "v4")]["score"] == pytest.approx(0.5)


def test_trending_scores_and_tie_break(seeded: Settings) -> None:
    got = [
        (r["video_id"], round(r["score"], 9), r["events"], r["unique_users"], r["rank"])
        for r in rows(seeded, "video_trending", "rank")
    ]
    assert got == [
        ("v1", 2.25, 4, 1, 1),  # 0.5 + 0.25 + 1 + 0.5
        ("v2", 1.25, 2, 2, 2),  # 0.25 + 1
        ("v3", 0.5, 1, 1, 3),  # ties with v4 at 0.5: video_id asc
        ("v4", 0.5, 1, 1, 4),
    ]


def test_similarity_min_support_and_tie_break(similar: Settings) -> None:
    got = [
        (r["video_id"], r["similar_video_id"], round(r["score"], 9), r["co_sessions"], r["rank"])
        for r in rows(similar, "video_similarity", "video_id, rank")
    ]
    third = round(2 / math.sqrt(3 * 3), 9)
    assert got == [  # d pairs have co = 1 < min_support 2; the session 30 days back is out
        ("a", "b", third, 2, 1),
        ("a", "c", third, 2, 2),
        ("b", "a", third, 2, 1),
        ("b", "c", third, 2, 2),
        ("c", "a", third, 2, 1),
        ("c", "b", third, 2, 2),
    ]


def test_top_k_and_min_support_parameters(similar: Settings) -> None:
    other = AS_OF.replace(day=2)
    run_signals(bigquery_client(similar), similar, SignalParams(as_of=other, top_k=1, min_support=1))
    truncated = [
        (r["video_id"], r["similar_video_id"], r["rank"])
        for r in rows(similar, "video_similarity", "video_id", as_of=other)
    ]
    assert truncated == [("a", "b", 1), ("b", "a", 1), ("c", "a", 1), ("d", "b", 1)]  # d: 1/sqrt(1*3), b before c


def test_similarity_counts_only_the_events_inside_the_window_of_sessions_straddling_its_edges(
    stack: Settings,
) -> None:
    """The signal contract is "events with event_ts in (as_of - lookback, as_of]", so a backfilled
    as_of does not change when later events arrive: a session that began before the window keeps
    its in-window videos, and one that runs past as_of does not bring the videos watched after it."""
    settings = fresh_dataset(stack)
    load_visits(
        settings,
        [
            visit(  # began before the window: x is out, y and z are in
                "early",
                [
                    ("x", "ThumbnailClicked", ts(28, seconds_after=-600)),
                    ("y", "ThumbnailClicked", ts(28, seconds_after=600)),
                    ("z", "VideoPaused", ts(28, seconds_after=1200)),
                ],
            ),
            visit(  # runs past as_of: y and z are in, w (after as_of) is out
                "late",
                [
                    ("y", "ThumbnailClicked", ts(0, seconds_after=-1200)),
                    ("z", "VideoPaused", ts(0, seconds_after=-600)),
                    ("w", "ThumbnailClicked", ts(0, seconds_after=600)),
                ],
            ),
        ],
    )
    run_signals(bigquery_client(settings), settings, SignalParams(as_of=AS_OF, min_support=1))
    got = [
        (r["video_id"], r["similar_video_id"], round(r["score"], 9), r["co_sessions"])
        for r in rows(settings, "video_similarity", "video_id, rank")
    ]
    assert got == [("y", "z", 1.0, 2), ("z", "y", 1.0, 2)]


def test_reruns_are_idempotent(seeded: Settings) -> None:
    client = bigquery_client(seeded)
    other = AS_OF.replace(day=2)
    run_signals(client, seeded, SignalParams(as_of=other))
    before = {t: rows(seeded, t, "1") for t in SIGNALS}
    other_before = {t: rows(seeded, t, "1", as_of=other) for t in SIGNALS}
    again = run_signals(client, seeded, SignalParams(as_of=AS_OF))
    after = {t: rows(seeded, t, "1") for t in before}
    assert {t: len(v) for t, v in after.items()} == {t: len(v) for t, v in before.items()} == again
    assert {t: rows(seeded, t, "1", as_of=other) for t in SIGNALS} == other_before  # the other as_of is untouched


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        SignalParams(as_of=AS_OF, half_life_days=0)
