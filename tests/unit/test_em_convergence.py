"""The number of EM iterations the signal job unrolls (params.json em_iterations) reaches the fixed
point of the EM on a simulated log: fewer leave theta_k / theta_1 where the steep start put it."""

from __future__ import annotations

import numpy as np

from bench.position_bias import em_cells, em_ratios
from bench.simulated_log import clean_profile, simulate
from clickstream.app.signals import DEFAULTS


def test_the_unrolled_em_iterations_reach_the_fixed_point() -> None:
    log = simulate(150_000, clean_profile(seed=7, exploration=0.0))
    for surface, (shown, clicks) in em_cells(log.impressions, log.events).items():
        unrolled = em_ratios(shown, clicks, DEFAULTS["em_iterations"])
        converged = em_ratios(shown, clicks, 5_000)
        assert np.max(np.abs(unrolled / converged - 1)) < 0.005, surface
