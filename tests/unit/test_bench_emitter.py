"""The emitter benchmark's rounds: interleaved, the compared pair back to back in both orders, and the ratio
is the median of the rounds' ratios."""

from __future__ import annotations

from bench.emitter import interleaved_rounds, median_ratio


def test_the_emitter_bench_runs_five_rounds_back_to_back_in_both_orders() -> None:
    calls: list[str] = []

    def runner(name: str, seconds: float):
        def run() -> float:
            calls.append(name)
            return seconds

        return run

    runners = {"transport": runner("transport", 1.0), "bare": runner("bare", 2.0), "ours": runner("ours", 3.0)}
    times = interleaved_rounds(runners, rounds=5)
    assert times == {"transport": [1.0] * 5, "bare": [2.0] * 5, "ours": [3.0] * 5}
    rounds = [calls[i : i + 3] for i in range(0, 15, 3)]
    assert all(sorted(r) == ["bare", "ours", "transport"] for r in rounds)  # each runs once a round
    assert all(abs(r.index("bare") - r.index("ours")) == 1 for r in rounds)  # the compared pair back to back
    ours_before_bare = [r.index("ours") < r.index("bare") for r in rounds]
    assert ours_before_bare == [False, True, False, True, False]  # each goes first in turn


def test_the_emitter_ratio_is_the_median_of_the_per_round_ratios() -> None:
    # Ours took 1.0 s while the baseline took 0.9 s, except in one disturbed round.
    ours = [1.0, 1.0, 5.0, 1.0, 1.0]
    baseline = [0.9, 0.9, 0.9, 0.9, 0.9]
    assert median_ratio(ours, baseline) == 0.9
