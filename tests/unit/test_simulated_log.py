"""The benchmark's simulated log keeps every click of the rows it shows (bench.simulated_log)."""

from __future__ import annotations

from bench.simulated_log import clean_profile, simulate


def _clicked(log) -> dict[str, bool]:
    shown = set(log.impressions.column("impression_id").to_pylist())
    clicked = {i for i in log.events.column("impression_id").to_pylist() if i}
    return {impression: impression in clicked for impression in shown}


def test_a_short_log_does_not_lose_the_later_clicks_of_rows_in_flight() -> None:
    # A log cut after N impressions misses the clicks still to come of the rows on screen at the
    # cut, more of them the deeper the slot: every estimate of theta_k is biased low. The same seed
    # run longer shows the same rows before the cut; each of their thumbnails must have the same
    # outcome in both logs.
    profile = clean_profile(seed=5, exploration=0.05, viewers=200, rate=50.0)
    short, long = _clicked(simulate(3_000, profile)), _clicked(simulate(12_000, profile))
    assert short.keys() <= long.keys()
    lost = [impression for impression, clicked in short.items() if long[impression] and not clicked]
    assert lost == []
    assert sum(short.values()) > 0
