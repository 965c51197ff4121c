"""The signal job against the stand-in: seeded inputs, expected rows worked out by hand.

as_of = 2026-03-01T00:00Z, half-life 7 days, lookback 28 days unless a test says otherwise.
decay(7 days) = 0.5, decay(14 days) = 0.25, decay(0) = 1.
"""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from clickstream.app.recommendations import recommend
from clickstream.app.signals import SIGNALS, SignalParams, run_signals
from clickstream.core.bigquery_clients import bigquery_client
from clickstream.core.config import Settings
from tests.support.warehouse_seeds import (
    AS_OF,
    catalog_row,
    click_on,
    event,
    fresh_dataset,
    impression,
    load,
    load_visits,
    ts,
    visit,
)

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


# Position bias, by construction: P(click) = theta[surface][slot] * gamma[video] (the position-based
# model). Every video is shown CELL times at every slot with exactly round(CELL * theta * gamma)
# clicks, so EM must find theta_k / theta_1 up to rounding.
THETA = {"home": (0.9, 0.63, 0.45, 0.315), "search": (0.8, 0.4, 0.24)}
GAMMA = {f"v{i:02}": 0.1 + 0.05 * i for i in range(10)}
CELL = 50


def _cell(surface: str, slot: int, video: str, shown: int, clicks: int, at: str, **kwargs) -> list[dict]:
    rows = [impression("viewer", video, surface, slot, at, **kwargs) for _ in range(shown)]
    return rows + [click_on(row) for row in rows[:clicks]]


@pytest.fixture(scope="module")
def shown(stack: Settings) -> Settings:
    settings = fresh_dataset(stack)
    rows: list[dict] = []
    for surface, thetas in THETA.items():
        for slot, theta in enumerate(thetas, start=1):
            for video, gamma in GAMMA.items():
                rows += _cell(surface, slot, video, CELL, round(CELL * theta * gamma), ts(1))
    # Two videos of the same appeal (0.4), one only ever at slot 1, one only at slot 3.
    rows += _cell("home", 1, "only1", 100, round(100 * 0.9 * 0.4), ts(2))
    rows += _cell("home", 3, "only3", 100, round(100 * 0.45 * 0.4), ts(2))
    # Noise the job must ignore: bots clicking everything, impressions before the window.
    rows += _cell("home", 4, "v00", 40, 40, ts(1), is_bot=True)
    rows += _cell("home", 4, "v01", 40, 40, ts(29))
    # A click after as_of on an impression before it does not count (backfills stay put).
    late = impression("viewer", "late", "home", 1, ts(0, seconds_after=-60))
    rows += [late, click_on(late, ts(0, seconds_after=60))]
    # swap_first on up_next: rank-2 items clicked 40% at slot 1 (swapped), 20% at slot 2 (unswapped).
    rows += _cell("up_next", 1, "s", 100, 40, ts(1), rank=2, swapped_rank=2)
    rows += _cell("up_next", 2, "s", 100, 20, ts(1), rank=2)
    for table in ("impressions", "events"):
        batch = [
            r for r in rows if ("impression_id" in r and "slot" in r and "items_shown" in r) == (table == "impressions")
        ]
        for start in range(0, len(batch), 500):
            load(settings, table, batch[start : start + 500])
    run_signals(bigquery_client(settings), settings, SignalParams(as_of=AS_OF, min_impressions=150))
    return settings


def test_em_recovers_the_position_curve_of_each_surface(shown: Settings) -> None:
    em = {
        (r["surface"], r["slot"]): r for r in rows(shown, "position_propensity", "surface, slot") if r["method"] == "em"
    }
    for surface, thetas in THETA.items():
        for slot, theta in enumerate(thetas, start=1):
            got = em[(surface, slot)]
            assert got["theta_relative"] == pytest.approx(theta / thetas[0], rel=0.03), (surface, slot)
            assert got["iterations"] == SignalParams(as_of=AS_OF).em_iterations
    # bots and the impressions before the window count for nothing; the numbers behind each estimate
    slot4 = em[("home", 4)]
    assert slot4["impressions"] == CELL * len(GAMMA)
    assert slot4["clicks"] == sum(round(CELL * 0.315 * g) for g in GAMMA.values())


def test_swaps_measure_the_propensity_ratio_directly(shown: Settings) -> None:
    swap = [r for r in rows(shown, "position_propensity", "surface, slot") if r["method"] == "swap"]
    assert [(r["surface"], r["slot"], r["impressions"], r["clicks"], r["theta"]) for r in swap] == [
        ("up_next", 2, 200, 60, None)
    ]
    assert swap[0]["theta_relative"] == pytest.approx(0.2 / 0.4)


def test_debiased_ctr_is_the_click_rate_at_slot_1_where_raw_ctr_is_not(shown: Settings) -> None:
    ctr = {(r["surface"], r["video_id"]): r for r in rows(shown, "video_ctr", "surface, video_id")}
    top, low = ctr[("home", "only1")], ctr[("home", "only3")]
    assert (top["raw_ctr"], low["raw_ctr"]) == (pytest.approx(0.36), pytest.approx(0.18))  # same appeal, halved
    assert top["debiased_ctr"] == pytest.approx(0.36, rel=0.01)
    assert low["debiased_ctr"] == pytest.approx(0.36, rel=0.05)  # 0.18 / (theta_3 / theta_1 = 0.5)
    for video, gamma in GAMMA.items():  # shown at every slot: raw CTR is the mean, debiased the slot-1 rate
        row = ctr[("home", video)]
        assert row["debiased_ctr"] == pytest.approx(0.9 * gamma, rel=0.06), video
        assert row["raw_ctr"] < row["debiased_ctr"]
        assert row["ips_ctr"] == pytest.approx(0.9 * gamma, rel=0.1), video  # the same quantity, noisier


def test_a_ctr_needs_min_impressions_to_be_supported_and_a_click_after_as_of_does_not_count(shown: Settings) -> None:
    ctr = {(r["surface"], r["video_id"]): r for r in rows(shown, "video_ctr", "surface, video_id")}
    assert ctr[("home", "v00")]["impressions"] == 4 * CELL and ctr[("home", "v00")]["supported"]  # 200 >= 150
    assert ctr[("home", "only1")]["impressions"] == 100 and not ctr[("home", "only1")]["supported"]
    assert (ctr[("home", "late")]["impressions"], ctr[("home", "late")]["clicks"]) == (1, 0)


@pytest.fixture(scope="module")
def ranked(stack: Settings) -> Settings:
    """t1 is clicked more than t2 only because it was shown far more (CTR 0.05 vs 0.3, both with
    support); "me" has finished fin, which everybody else clicks."""
    settings = fresh_dataset(stack)
    rows: list[dict] = []
    for video, shown, clicks in (("t1", 1000, 50), ("t2", 150, 45), ("t3", 20, 5)):
        rows += _cell("home", 1, video, shown, clicks, ts(1))
    impressions = [r for r in rows if "items_shown" in r]
    events = [r for r in rows if "items_shown" not in r]
    events += [event(f"o{i}", "fin", "ThumbnailClicked", ts(1)) for i in range(120)]
    finished = event("me", "fin", "VideoPaused", ts(1), position_ms=95_000, duration_ms=100_000)
    events.append({**finished, "watch_ratio": 0.95})
    for table, batch in (("impressions", impressions), ("events", events)):
        for start in range(0, len(batch), 500):
            load(settings, table, batch[start : start + 500])
    run_signals(bigquery_client(settings), settings, SignalParams(as_of=AS_OF))
    return settings


def test_recommend_never_returns_a_finished_video_and_blends_the_debiased_ctr(ranked: Settings) -> None:
    got = recommend(bigquery_client(ranked), ranked, {"me": ["me"], "someone": ["someone"]}, n=3)
    # trending counts t1 (50 clicks) over t2 (45); the debiased CTR (0.3 vs 0.05, both supported)
    # puts t2 first; t3 (20 impressions) has no support and keeps its trending score.
    assert [r["video_id"] for r in got["someone"]] == ["fin", "t2", "t1"]
    assert [r["video_id"] for r in got["me"]] == ["t2", "t1", "t3"]  # fin watched to 95%: never
    assert [r["position"] for r in got["me"]] == [1, 2, 3]
    assert all(r["reason"].startswith("trending #") for r in got["me"])


def test_recommend_for_many_people_at_once_equals_one_at_a_time(ranked: Settings) -> None:
    client = bigquery_client(ranked)
    people = {"me": ["me", "me-under-the-old-key"], "someone": ["someone"], "o1": ["o1"]}
    batch = recommend(client, ranked, people, n=4, as_of=AS_OF)
    assert batch == {person: recommend(client, ranked, {person: ids}, n=4)[person] for person, ids in people.items()}
    assert recommend(client, ranked, {}, n=4) == {}


def test_the_propensity_floor_caps_the_weight_of_a_click(shown: Settings) -> None:
    later = AS_OF + timedelta(seconds=1)
    run_signals(bigquery_client(shown), shown, SignalParams(as_of=later, min_impressions=150, propensity_floor=0.6))
    ctr = {(r["surface"], r["video_id"]): r for r in rows(shown, "video_ctr", "surface, video_id", as_of=later)}
    # only3's clicks at slot 3 (theta_3 / theta_1 = 0.5) are divided by the floor 0.6 instead
    assert ctr[("home", "only3")]["debiased_ctr"] == pytest.approx(18 / 0.6 / 100)
    assert ctr[("home", "only1")]["debiased_ctr"] == pytest.approx(0.36)  # slot 1: theta_relative 1 > floor


@pytest.fixture(scope="module")
def tastes(stack: Settings) -> Settings:
    """film1 is the more popular video (6 viewers click it), song2 the less (4); "fan" clicks only
    music (song1, 30 times)."""
    settings = fresh_dataset(stack)
    catalog = [catalog_row("film1", 100_000)] + [
        {**catalog_row(video, 100_000), "category": "music"} for video in ("song1", "song2")
    ]
    load(settings, "video_catalog", catalog)
    events = [event(f"o{i}", "film1", "ThumbnailClicked", ts(1)) for i in range(6)]
    events += [event(f"q{i}", "song2", "ThumbnailClicked", ts(1)) for i in range(4)]
    events += [event("fan", "song1", "ThumbnailClicked", ts(1)) for _ in range(30)]
    load(settings, "events", events)
    run_signals(bigquery_client(settings), settings, SignalParams(as_of=AS_OF))
    return settings


def test_recommend_blends_popularity_with_the_persons_taste_for_a_category(tastes: Settings) -> None:
    got = recommend(bigquery_client(tastes), tastes, {"fan": ["fan"], "stranger": ["stranger"]}, n=3)
    # one blended score, not "personal first, popular after": song1 (the most popular) leads for
    # both; the fan's taste for music lifts song2 over the more popular film1, the stranger (no
    # affinity rows) gets the popularity ranking as it is
    assert [r["video_id"] for r in got["stranger"]] == ["song1", "film1", "song2"]
    assert [r["video_id"] for r in got["fan"]] == ["song1", "song2", "film1"]
    assert [r["reason"] for r in got["fan"]] == ["trending #1", "trending #3", "trending #2"]


def test_impression_clicks_keeps_each_viewers_impression_and_joins_only_their_own_click(stack: Settings) -> None:
    """impression_id is unique within a row (the pipeline checks) but a page may supply its own ids, so
    two viewers can show the same id: each keeps their impression and only their own click joins it
    (the review found the view keyed by impression_id alone). A re-sent row is still one impression."""
    settings = fresh_dataset(stack)
    mine = impression("alice", "v1", "home", 1, ts(1))
    theirs = {**impression("bob", "v2", "home", 2, ts(1)), "impression_id": mine["impression_id"]}
    resent = {**mine, "message_id": "m-again", "processed_at": ts(1, seconds_after=5)}
    load(settings, "impressions", [mine, theirs, resent])
    load(settings, "events", [click_on(theirs, ts(1, seconds_after=2))])
    client = bigquery_client(settings)
    got = client.query(
        f"SELECT user_id, video_id, clicked FROM `{settings.table_id('impression_clicks')}` ORDER BY user_id"
    ).result()
    assert [(r.user_id, r.video_id, r.clicked) for r in got] == [("alice", "v1", False), ("bob", "v2", True)]
