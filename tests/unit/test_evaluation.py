"""The offline metrics of ``clickstream signals evaluate``, on cases worked out by hand."""

from __future__ import annotations

import math

import pytest

from clickstream.app.evaluation import (
    Scores,
    coverage,
    kendall_tau,
    most_popular,
    ndcg_at_k,
    random_recommendations,
    recall_at_k,
    score,
    truth_relevance,
)


def test_recall_counts_hits_in_the_first_k_over_the_relevant_set() -> None:
    assert recall_at_k(["a", "b", "c", "d"], {"b", "d", "x"}, k=4) == pytest.approx(2 / 3)
    assert recall_at_k(["a", "b", "c", "d"], {"b", "d", "x"}, k=2) == pytest.approx(1 / 3)  # d is at rank 4
    assert recall_at_k(["a"], {"a"}, k=10) == 1.0


def test_recall_of_an_empty_relevant_set_is_refused() -> None:
    with pytest.raises(ValueError):
        recall_at_k(["a"], set(), k=10)


def test_ndcg_discounts_by_log2_of_rank_plus_one_and_normalises_by_the_ideal() -> None:
    # hits at ranks 2 and 4; ideal: two hits at ranks 1 and 2
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    ideal = 1 / math.log2(2) + 1 / math.log2(3)
    assert ndcg_at_k(["a", "b", "c", "d"], {"b", "d"}, k=4) == pytest.approx(dcg / ideal)
    assert ndcg_at_k(["b", "d", "c"], {"b", "d"}, k=3) == pytest.approx(1.0)
    assert ndcg_at_k(["a", "c"], {"b"}, k=2) == 0.0


def test_ndcg_ideal_is_capped_at_k() -> None:
    # 3 relevant, k = 2: a perfect top-2 scores 1
    assert ndcg_at_k(["a", "b", "z"], {"a", "b", "c"}, k=2) == pytest.approx(1.0)


def test_duplicates_in_a_list_count_once() -> None:
    assert recall_at_k(["a", "a", "b"], {"a", "c"}, k=3) == pytest.approx(0.5)
    assert ndcg_at_k(["a", "a"], {"a", "c"}, k=2) == pytest.approx(1 / (1 + 1 / math.log2(3)))


def test_coverage_is_distinct_videos_in_the_first_k_over_the_catalog() -> None:
    lists = [["a", "b", "c"], ["a", "d", "e"]]
    assert coverage(lists, catalog_size=10, k=2) == pytest.approx(3 / 10)  # a, b, d
    assert coverage([], catalog_size=10, k=2) == 0.0
    with pytest.raises(ValueError):
        coverage(lists, catalog_size=0, k=2)


def test_score_averages_over_users_with_something_relevant() -> None:
    recs = {"u1": ["a", "b"], "u2": ["c", "d"], "u3": ["e"]}
    relevant = {"u1": {"a"}, "u2": {"x"}, "u3": set()}  # u3 has nothing to find: not averaged
    got = score(recs, relevant, k=2, catalog_size=5)
    assert got == Scores(recall=0.5, ndcg=0.5, coverage=5 / 5, users=2)


def test_most_popular_skips_what_each_user_finished() -> None:
    got = most_popular(["a", "b", "c", "d"], ["u1", "u2"], {"u1": {"a", "c"}}, k=2)
    assert got == {"u1": ["b", "d"], "u2": ["a", "b"]}


def test_random_is_seeded_distinct_and_skips_finished() -> None:
    catalog = [f"v{i}" for i in range(50)]
    first = random_recommendations(catalog, ["u1", "u2"], {"u1": {"v0", "v1"}}, k=10, seed=3)
    again = random_recommendations(catalog, ["u1", "u2"], {"u1": {"v0", "v1"}}, k=10, seed=3)
    assert first == again
    assert all(len(v) == len(set(v)) == 10 for v in first.values())
    assert not {"v0", "v1"} & set(first["u1"])
    assert first != random_recommendations(catalog, ["u1", "u2"], {"u1": {"v0", "v1"}}, k=10, seed=4)


class _Truth:
    def __init__(self) -> None:
        self.viewer_tastes = {"raw-1": (1.0,), "raw-2": (1.0,), "raw-gone": (1.0,)}

    def top_preferences(self, user_id: str, n: int, exclude=()) -> list[str]:
        ranked = {"raw-1": ["a", "b", "c"], "raw-2": ["c", "d", "e"], "raw-gone": ["z"]}[user_id]
        return [v for v in ranked if v not in set(exclude)][:n]


def test_truth_relevance_maps_raw_ids_to_pseudonyms_and_excludes_finished() -> None:
    def pseudonyms(raw: str) -> list[str]:
        return [f"new-{raw}", f"old-{raw}"]

    got = truth_relevance(_Truth(), pseudonyms, ["old-raw-1", "new-raw-2"], {"old-raw-1": {"a"}}, k=2)
    assert got == {"old-raw-1": {"b", "c"}, "new-raw-2": {"c", "d"}}  # raw-gone was not active


def test_kendall_tau_b_on_hand_computed_cases() -> None:
    assert kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # pairs: (1,2)+ (1,3)+ (2,3)- -> (2 - 1) / 3
    assert kendall_tau([1, 2, 3], [1, 3, 2]) == pytest.approx(1 / 3)
    # tau-b with a tie in x: concordant 2, discordant 0, n0 = 3, ties in x = 1 -> 2 / sqrt(2 * 3)
    assert kendall_tau([1, 1, 2], [1, 2, 3]) == pytest.approx(2 / math.sqrt(6))
