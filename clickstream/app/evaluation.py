"""Offline evaluation of the recommendations on a held-out last period (``clickstream signals evaluate``).

The replay: the signals are computed as of ``T - D`` (they see nothing later), every person active in
``(T - D, T]`` gets the top ``k`` of three recommenders, and each list is scored against what that
person did in the holdout:

* ours: ``clickstream.app.recommendations.recommend`` at ``T - D``;
* most-popular: the trending ranking at ``T - D``, the same list for everyone;
* random: ``k`` videos of the catalog, seeded, per person.

Relevant (observed): the videos the person clicked in the holdout. Relevant (truth, with the
simulator's ground truth): the person's true top-``k`` preferences. In both, and in all three lists,
the videos the person had already finished by ``T - D`` are left out the same way, since the
recommender never shows them (a finished video the person clicks again is not one it could find).

Metrics (binary relevance), averaged over the people with at least one relevant video:
recall@k = hits in the first k / relevant; NDCG@k = DCG / ideal DCG with gain 1/log2(rank + 1) and
the ideal capped at k; coverage = distinct videos in all first-k lists / catalog size.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import numpy as np
from google.cloud import bigquery

from clickstream.app.recommendations import BLEND
from clickstream.app.signals import SignalParams, run_signals
from clickstream.core.config import Settings
from clickstream.core.sql import run_script

# recommend.sql's rule for "finished" (its parameter, from sql/serving/params.json), read from the
# same affinity table it reads, so the holdout leaves out exactly what the recommender never offers.
FINISHED_WATCH_RATIO = BLEND["finished_watch_ratio"]
METHODS = ("ours", "most-popular", "random")


# ---------------------------------------------------------------------------------- metrics
def _first_k(recommended: Sequence[str], k: int) -> dict[str, int]:
    """video -> its rank in the first k; a video listed twice counts once, at its first rank."""
    if k < 1:
        raise ValueError("k must be >= 1")
    ranks: dict[str, int] = {}
    for rank, video in enumerate(recommended[:k], start=1):
        ranks.setdefault(video, rank)
    return ranks


def recall_at_k(recommended: Sequence[str], relevant: Collection[str], k: int) -> float:
    if not relevant:
        raise ValueError("recall of an empty relevant set is undefined")
    return len(set(_first_k(recommended, k)) & set(relevant)) / len(relevant)


def ndcg_at_k(recommended: Sequence[str], relevant: Collection[str], k: int) -> float:
    if not relevant:
        raise ValueError("NDCG of an empty relevant set is undefined")
    wanted = set(relevant)
    dcg = sum(1 / math.log2(rank + 1) for video, rank in _first_k(recommended, k).items() if video in wanted)
    ideal = sum(1 / math.log2(rank + 1) for rank in range(1, min(len(wanted), k) + 1))
    return dcg / ideal


def coverage(lists: Iterable[Sequence[str]], catalog_size: int, k: int) -> float:
    if catalog_size < 1:
        raise ValueError("catalog_size must be >= 1")
    return len({video for videos in lists for video in _first_k(videos, k)}) / catalog_size


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b (ties in either ranking count as neither concordant nor discordant).

    O(n^2) pairs in numpy: fine for a catalog of thousands of videos (the benchmark's use)."""
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or len(a) < 2:
        raise ValueError("kendall_tau needs two sequences of the same length >= 2")
    upper = np.triu_indices(len(a), k=1)
    sx = np.sign(a[:, None] - a[None, :])[upper]
    sy = np.sign(b[:, None] - b[None, :])[upper]
    denominator = math.sqrt(np.count_nonzero(sx) * np.count_nonzero(sy))
    return float((sx * sy).sum() / denominator) if denominator else float("nan")


@dataclass(frozen=True)
class Scores:
    recall: float
    ndcg: float
    coverage: float
    users: int  # people with at least one relevant video (the averages' denominator)


def score(
    recommendations: Mapping[str, Sequence[str]], relevant: Mapping[str, Collection[str]], k: int, catalog_size: int
) -> Scores:
    """Mean recall@k and NDCG@k over the people with something relevant; coverage over all lists."""
    judged = [person for person, wanted in relevant.items() if wanted]
    recall = [recall_at_k(recommendations.get(p, []), relevant[p], k) for p in judged]
    ndcg = [ndcg_at_k(recommendations.get(p, []), relevant[p], k) for p in judged]
    return Scores(
        recall=sum(recall) / len(judged) if judged else 0.0,
        ndcg=sum(ndcg) / len(judged) if judged else 0.0,
        coverage=coverage(recommendations.values(), catalog_size, k),
        users=len(judged),
    )


# ---------------------------------------------------------------------------------- baselines
def most_popular(
    ranking: Sequence[str], people: Iterable[str], finished: Mapping[str, Collection[str]], k: int
) -> dict[str, list[str]]:
    """The popularity ranking's first k that the person has not finished."""
    out = {}
    for person in people:
        done = finished.get(person, ())
        out[person] = [video for video in ranking if video not in done][:k]
    return out


def random_recommendations(
    catalog: Sequence[str], people: Iterable[str], finished: Mapping[str, Collection[str]], k: int, seed: int
) -> dict[str, list[str]]:
    """k distinct catalog videos per person, not finished ones; the same seed gives the same lists."""
    rng = random.Random(seed)
    out = {}
    for person in sorted(people):  # sorted: the lists do not depend on the order people came in
        done = finished.get(person, ())
        out[person] = rng.sample([v for v in catalog if v not in done], min(k, len(catalog)))
    return out


# ---------------------------------------------------------------------------------- the truth
class Truth(Protocol):
    """What evaluation reads of ``emitters.ground_truth.GroundTruth``."""

    viewer_tastes: Mapping[str, object]

    def top_preferences(self, user_id: str, n: int, exclude: Iterable[str] = ()) -> list[str]: ...


def truth_relevance(
    truth: Truth,
    pseudonyms: Callable[[str], list[str]],
    people: Iterable[str],
    finished: Mapping[str, Collection[str]],
    k: int,
) -> dict[str, set[str]]:
    """Each active person's true top-k preferences, not finished ones. The truth file has raw ids and
    the warehouse pseudonyms, so each raw id is hashed under every key held (``Keyring.all_pseudonyms``)."""
    active = set(people)
    out = {}
    for raw in truth.viewer_tastes:
        for person in pseudonyms(raw):
            if person in active:
                out[person] = set(truth.top_preferences(raw, k, exclude=finished.get(person, ())))
    return out


# ---------------------------------------------------------------------------------- the holdout
Recommender = Callable[..., dict[str, list[dict]]]  # recommend(client, settings, people, n, as_of)

# Flat rows rather than ARRAY_AGG: the stand-in mistranslates ARRAY_AGG(DISTINCT ... IGNORE NULLS).
_ACTIVE = """
SELECT DISTINCT user_id, IF(event_type = 'ThumbnailClicked', video_id, NULL) AS clicked
FROM `${table}`
WHERE event_ts > @train_as_of AND event_ts <= @as_of AND NOT COALESCE(is_bot, FALSE)
"""
_FINISHED = """
SELECT DISTINCT user_id, video_id
FROM `${table}`
WHERE as_of = @train_as_of AND max_watch_ratio >= @finished_ratio
"""
_TRENDING = "SELECT video_id FROM `${table}` WHERE as_of = @train_as_of ORDER BY rank"
_CATALOG = "SELECT video_id FROM `${table}` ORDER BY video_id"
_SEEN = "SELECT DISTINCT video_id FROM `${table}` WHERE event_ts <= @train_as_of ORDER BY video_id"


@dataclass(frozen=True)
class Holdout:
    """What the replay needs from the warehouse, read once."""

    train_as_of: datetime
    as_of: datetime
    clicked: dict[str, set[str]]  # every person active in the holdout -> videos clicked (maybe none)
    finished: dict[str, set[str]]  # person -> videos finished by train_as_of
    trending: list[str]  # the trending ranking at train_as_of
    catalog: list[str]


def _query(client: bigquery.Client, settings: Settings, sql: str, table: str, params: dict) -> list[dict]:
    return run_script(client, settings, sql.replace("${table}", settings.table_id(table)), params)


def load_holdout(client: bigquery.Client, settings: Settings, as_of: datetime, holdout_days: float) -> Holdout:
    """Signals at ``as_of - holdout_days`` (the signal job runs for it), then the holdout's facts."""
    if holdout_days <= 0:
        raise ValueError("holdout_days must be > 0")
    train = SignalParams(as_of=as_of - timedelta(days=holdout_days)).as_of
    as_of = SignalParams(as_of=as_of).as_of  # UTC when naive, as the signal job reads it
    run_signals(client, settings, SignalParams(as_of=train))
    window = {"train_as_of": train, "as_of": as_of}
    active = _query(client, settings, _ACTIVE, "events_deduplicated", window)
    finished_rows = _query(
        client,
        settings,
        _FINISHED,
        "user_video_affinity",
        {"train_as_of": train, "finished_ratio": FINISHED_WATCH_RATIO},
    )
    finished: dict[str, set[str]] = {}
    for row in finished_rows:
        finished.setdefault(row["user_id"], set()).add(row["video_id"])
    trending = [r["video_id"] for r in _query(client, settings, _TRENDING, "video_trending", {"train_as_of": train})]
    catalog = [r["video_id"] for r in _query(client, settings, _CATALOG, "video_catalog", {})]
    if not catalog:  # no catalog loaded: the videos the warehouse has seen stand for it
        catalog = [r["video_id"] for r in _query(client, settings, _SEEN, "events_deduplicated", window)]
    clicked: dict[str, set[str]] = {}
    for row in active:
        videos = clicked.setdefault(row["user_id"], set())
        if row["clicked"] is not None and row["clicked"] not in finished.get(row["user_id"], ()):
            videos.add(row["clicked"])
    return Holdout(train, as_of, clicked, finished, trending, catalog)


@dataclass(frozen=True)
class Evaluation:
    holdout: Holdout
    k: int
    observed: dict[str, Scores]  # method -> scores against the holdout's clicks
    truth: dict[str, Scores] | None  # method -> scores against the true preferences (with --truth)

    def margins(self, against: str = "observed") -> tuple[float, float]:
        """(recall, NDCG) of ours minus most-popular."""
        scores = self.observed if against == "observed" else self.truth
        if scores is None:
            raise ValueError("no truth was given")
        return scores["ours"].recall - scores["most-popular"].recall, scores["ours"].ndcg - scores["most-popular"].ndcg


def evaluate(
    client: bigquery.Client,
    settings: Settings,
    as_of: datetime,
    holdout_days: float,
    recommender: Recommender,
    *,
    k: int = 10,
    truth: Truth | None = None,
    pseudonyms: Callable[[str], list[str]] | None = None,
    seed: int = 0,
) -> Evaluation:
    """The replay (module docstring). ``pseudonyms`` hashes a raw id of the truth file (needed with ``truth``)."""
    if k < 1:
        raise ValueError("k must be >= 1")
    if truth is not None and pseudonyms is None:
        raise ValueError("a truth needs the pseudonyms function that maps its raw ids")
    holdout = load_holdout(client, settings, as_of, holdout_days)
    people = sorted(holdout.clicked)
    ours_rows = recommender(client, settings, {p: [p] for p in people}, k, holdout.train_as_of) if people else {}
    lists = {
        "ours": {p: [r["video_id"] for r in ours_rows.get(p, [])] for p in people},
        "most-popular": most_popular(holdout.trending, people, holdout.finished, k),
        "random": random_recommendations(holdout.catalog, people, holdout.finished, k, seed),
    }
    size = max(1, len(holdout.catalog))
    observed = {m: score(lists[m], holdout.clicked, k, size) for m in METHODS}
    truth_scores = None
    if truth is not None and pseudonyms is not None:
        relevant = truth_relevance(truth, pseudonyms, people, holdout.finished, k)
        truth_scores = {m: score(lists[m], relevant, k, size) for m in METHODS}
    return Evaluation(holdout, k, observed, truth_scores)
