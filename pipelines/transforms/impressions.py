"""Stage 5 for what was shown: enriched ThumbnailsShown events become impressions rows."""

from __future__ import annotations

from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipelines.rules.impressions import impression_rows, is_impressions
from pipelines.transforms import EVENTS, IMPRESSIONS, METRICS_NAMESPACE


class _RouteFn(beam.DoFn):
    def __init__(self) -> None:
        self.shown = Metrics.counter(METRICS_NAMESPACE, "thumbnails_shown")
        self.impressions = Metrics.counter(METRICS_NAMESPACE, "impressions")

    def process(self, event: dict[str, Any]):
        # The outputs keep the input's event-time timestamp (no TimestampedValue needed).
        if not is_impressions(event):
            yield event
            return
        self.shown.inc()
        for row in impression_rows(event):
            self.impressions.inc()
            yield beam.pvalue.TaggedOutput(IMPRESSIONS, row)


class RouteImpressions(beam.PTransform):
    """Enriched events -> {events: every event but ThumbnailsShown, impressions: one row per
    thumbnail shown}. Impressions are what the app showed, not what the viewer did: they go to
    their own table and into no session."""

    def expand(self, events):
        return events | "Route" >> beam.ParDo(_RouteFn()).with_outputs(IMPRESSIONS, main=EVENTS)
