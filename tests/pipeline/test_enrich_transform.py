"""EnrichEvents and CatalogSideInput: the catalog join (hit and miss), user agent, watch ratio.

Input: decoded event rows stamped with event time; the catalog is a singleton side input.
"""

from __future__ import annotations

import json
from pathlib import Path

import apache_beam as beam
from apache_beam.testing.util import assert_that, equal_to

from pipelines.transforms.enrich import CatalogSideInput, EnrichEvents
from tests.support.teststream import (
    CATALOG,
    T0_MS,
    at_event_time,
    batch_pipeline,
    clicked,
    decoded,
    id_and_timestamp,
    paused,
)


def _enrich(p: beam.Pipeline, rows: list[dict], catalog: beam.PCollection | None = None) -> beam.PCollection:
    if catalog is None:
        catalog = p | "Catalog" >> beam.Create([CATALOG])
    events = p | "Events" >> beam.Create(rows) | "AtEventTime" >> beam.Map(lambda row: at_event_time([row])[0])
    return events | EnrichEvents(catalog)


def test_catalog_hit_and_miss_are_flagged_not_dropped() -> None:
    rows = [
        decoded(paused("hal", 0, video="vid-000001")),
        decoded(paused("hal", 5, video="vid-999999", position_ms=1000)),
    ]

    def check(events):
        by_video = {e["video_id"]: e for e in events}
        assert set(by_video) == {"vid-000001", "vid-999999"}
        hit, miss = by_video["vid-000001"], by_video["vid-999999"]
        assert hit["catalog_hit"] and hit["video_title"] == "One" and hit["video_duration_ms"] == 240_000
        assert hit["video_category"] == "music" and hit["video_creator_id"] == "creator-0001"
        assert hit["watch_ratio"] == 0.25
        assert not miss["catalog_hit"] and miss["video_title"] is None and miss["watch_ratio"] is None
        assert miss["video_duration_ms"] is None and miss["video_category"] is None

    with batch_pipeline() as p:
        assert_that(_enrich(p, rows), check)


IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


def test_user_agents_are_parsed_per_event_and_clicks_have_no_watch_ratio() -> None:
    desktop = decoded(clicked("ida", 0, video="vid-000002"))
    phone = {**decoded(clicked("ida", 5, video="vid-000002", slot=2)), "user_agent": IPHONE}

    def check(events):
        by_slot = {e["slot"]: e for e in events}
        assert set(by_slot) == {1, 2}
        for event in events:
            assert event["catalog_hit"] and event["video_title"] == "Two"
            # A click has no playhead: no ratio, and the catalog's duration is not copied onto it.
            assert event["watch_ratio"] is None and event["video_duration_ms"] is None
            assert event["processed_at"].endswith("Z")
        assert (by_slot[1]["browser_family"], by_slot[1]["os_family"]) == ("Firefox", "Linux")
        assert (by_slot[2]["browser_family"], by_slot[2]["os_family"], by_slot[2]["device_family"]) == (
            "Mobile Safari",
            "iOS",
            "iPhone",
        )

    with batch_pipeline() as p:
        assert_that(_enrich(p, [desktop, phone]), check)


def test_the_events_duration_wins_over_the_catalogs_and_the_ratio_is_capped() -> None:
    own = decoded(paused("jo", 0, video="vid-000001", position_ms=30_000, video_duration_ms=60_000))
    past_end = decoded(paused("jo", 9, video="vid-000001", position_ms=241_000))  # catalog: 240 s

    with batch_pipeline() as p:
        assert_that(
            _enrich(p, [own, past_end]) | beam.Map(lambda e: (e["video_duration_ms"], e["watch_ratio"])),
            equal_to([(60_000, 0.5), (240_000, 1.0)]),
        )


def test_enriched_events_keep_their_event_time() -> None:
    rows = [decoded(paused("kay", 0)), decoded(clicked("kay", 42))]
    with batch_pipeline() as p:
        assert_that(
            _enrich(p, rows) | beam.Map(id_and_timestamp),
            equal_to([(rows[0]["event_id"], T0_MS), (rows[1]["event_id"], T0_MS + 42_000)]),
        )


def test_catalog_side_input_loads_a_json_lines_file(tmp_path: Path) -> None:
    path = tmp_path / "catalog.jsonl"
    lines = [json.dumps({"video_id": video_id, **entry}) for video_id, entry in CATALOG.items()]
    path.write_text("\n".join(lines) + "\n\n")  # a blank line is skipped
    rows = [decoded(paused("lea", 0, video="vid-000001")), decoded(clicked("lea", 3, video="vid-000003"))]
    with batch_pipeline() as p:
        catalog = p | CatalogSideInput((str(path), None, None, None), refresh_s=0)
        assert_that(catalog, equal_to([CATALOG]), label="Catalog")
        assert_that(
            _enrich(p, rows, catalog) | beam.Map(lambda e: (e["video_id"], e["catalog_hit"], e["video_title"])),
            equal_to([("vid-000001", True, "One"), ("vid-000003", False, None)]),
            label="Joined",
        )
