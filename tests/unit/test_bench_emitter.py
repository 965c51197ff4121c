"""The emitter benchmark's rounds: interleaved, in turning order, and the ratio is the median of rounds."""

from __future__ import annotations

from bench.emitter import interleaved_rounds, median_ratio


def test_the_emitter_bench_interleaves_five_rounds_and_turns_the_order() -> None:
    calls: list[str] = []

    def runner(name: str, seconds: float):
        def run() -> float:
            calls.append(name)
            return seconds

        return run

    times = interleaved_rounds({"a": runner("a", 1.0), "b": runner("b", 2.0), "c": runner("c", 3.0)}, rounds=5)
    assert times == {"a": [1.0] * 5, "b": [2.0] * 5, "c": [3.0] * 5}
    rounds = [calls[i : i + 3] for i in range(0, 15, 3)]
    assert all(sorted(r) == ["a", "b", "c"] for r in rounds)  # each round runs every publisher once
    assert len({tuple(r) for r in rounds}) == 3  # none always goes first or last


def test_the_emitter_ratio_is_the_median_of_the_per_round_ratios() -> None:
    # Ours took 1.0 s while the baseline took 0.9 s, except in one disturbed round.
    ours = [1.0, 1.0, 5.0, 1.0, 1.0]
    baseline = [0.9, 0.9, 0.9, 0.9, 0.9]
    assert median_ratio(ours, baseline) == 0.9
