"""Side inputs that change slowly (the catalog, the erased users): loaded once, or refreshed."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import apache_beam as beam
from apache_beam.transforms import trigger, window
from apache_beam.transforms.periodicsequence import PeriodicImpulse


class RefreshedSideInput(beam.PTransform):
    """What ``load()`` returns, as a singleton side input (the catalog, the erased users).

    With ``refresh_s`` > 0 it is re-loaded every ``refresh_s`` by a PeriodicImpulse into
    the global window with a repeating trigger (Beam's slowly-changing side input
    pattern), and readers always see the latest load. The local streaming runner
    (BundleBasedDirectRunner) cannot run PeriodicImpulse, a splittable DoFn, so local
    and batch runs pass ``refresh_s=0`` and load once at start (``pipelines.graph``
    decides, one rule for every such side input).
    """

    def __init__(self, load: Callable[[], Any], refresh_s: int):
        super().__init__()
        self.load = load
        self.refresh_s = refresh_s

    def expand(self, pbegin):
        load = self.load
        if not self.refresh_s:
            return pbegin | "Once" >> beam.Create([None]) | "Load" >> beam.Map(lambda _: load())
        return (
            pbegin
            | "Every" >> PeriodicImpulse(start_timestamp=time.time(), fire_interval=self.refresh_s)
            | "Load" >> beam.Map(lambda _: load())
            | "Latest"
            >> beam.WindowInto(
                window.GlobalWindows(),
                trigger=trigger.Repeatedly(trigger.AfterCount(1)),
                accumulation_mode=trigger.AccumulationMode.DISCARDING,
            )
        )
