"""RouteImpressions: after enrichment a ThumbnailsShown leaves the events path as one impressions
row per thumbnail, at its event time; every other event goes on as an events row (issue 14)."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.testing.util import assert_that, equal_to

from pipelines.transforms import EVENTS, IMPRESSIONS
from pipelines.transforms.impressions import RouteImpressions
from tests.support.teststream import (
    T0_MS,
    at_event_time,
    batch_pipeline,
    clicked,
    enriched,
    paused,
    shown,
    streaming_pipeline,
)


def test_a_thumbnails_shown_becomes_impressions_and_other_events_stay_events() -> None:
    row_event, pause, click = shown("amy", 5), paused("amy", 10), clicked("amy", 20)
    rows = [enriched(e) for e in (row_event, pause, click)]
    with batch_pipeline() as p:
        routed = p | beam.Create(at_event_time(rows)) | RouteImpressions()
        assert_that(
            routed[EVENTS] | "EventIds" >> beam.Map(lambda e: e["event_id"]),
            equal_to([pause.event_id, click.event_id]),
            label="EventsAreTheOthers",
        )
        assert_that(
            routed[IMPRESSIONS]
            | "ImpressionKeys"
            >> beam.Map(lambda r, ts=beam.DoFn.TimestampParam: (r["event_id"], r["impression_id"], ts.micros // 1000)),
            equal_to([(row_event.event_id, f"req-1-{k}", T0_MS + 5_000) for k in (1, 2, 3)]),
            label="OneImpressionPerThumbnailAtEventTime",
        )


def test_routing_counts_events_and_rows() -> None:
    rows = [enriched(shown("amy", 0)), enriched(shown("bob", 1, videos=("vid-000001",))), enriched(paused("cal", 2))]
    p = streaming_pipeline()
    _ = p | beam.Create(at_event_time(rows)) | RouteImpressions()
    result = p.run()
    result.wait_until_finish()
    counters = {c.key.metric.name: c.committed for c in result.metrics().query()["counters"]}
    assert (counters["thumbnails_shown"], counters["impressions"]) == (2, 4)
