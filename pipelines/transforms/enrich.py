"""Stage 4: join the video catalog (a side input), parse the user agent, derive watch ratio."""

from __future__ import annotations

import functools
import json
import time
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from clickstream.core.bigquery_clients import bigquery_client
from clickstream.core.config import Settings
from pipelines.rules.enrich import CatalogEntry, enrich
from pipelines.timefmt import iso
from pipelines.transforms import METRICS_NAMESPACE
from pipelines.transforms.side_input import RefreshedSideInput


def load_catalog(
    path: str | None, table_id: str | None, bigquery_endpoint: str | None, project: str | None
) -> dict[str, CatalogEntry]:
    """video_id -> catalog entry, from a JSON-lines file or the BigQuery table."""
    if path:
        with FileSystems.open(path) as handle:
            rows = [json.loads(line) for line in handle.read().decode().splitlines() if line.strip()]
    else:
        settings = Settings(project=project or Settings().project, bigquery_endpoint=bigquery_endpoint)
        query = f"SELECT video_id, title, category, duration_ms, creator_id FROM `{table_id}`"
        rows = [dict(r) for r in bigquery_client(settings).query(query).result()]
    return {
        r["video_id"]: {
            "title": r["title"],
            "category": r["category"],
            "duration_ms": r["duration_ms"],
            "creator_id": r["creator_id"],
        }
        for r in rows
    }


class CatalogSideInput(RefreshedSideInput):
    """The catalog (video_id -> entry) as a singleton side input, refreshed every ``refresh_s``."""

    def __init__(self, loader_args: tuple[Any, ...], refresh_s: int):
        super().__init__(functools.partial(load_catalog, *loader_args), refresh_s)
        self.loader_args = loader_args


class EnrichFn(beam.DoFn):
    def __init__(self):
        self.enriched = Metrics.counter(METRICS_NAMESPACE, "enriched")
        self.catalog_misses = Metrics.counter(METRICS_NAMESPACE, "catalog_misses")

    def process(self, event: dict[str, Any], catalog: dict[str, CatalogEntry]):
        row = enrich(event, catalog, iso(time.time_ns() // 1_000_000))
        self.enriched.inc()
        # A ThumbnailsShown has a catalog entry per thumbnail: each one missing counts.
        misses = sum(not item["catalog_hit"] for item in row["items"]) if "items" in row else not row["catalog_hit"]
        if misses:
            self.catalog_misses.inc(misses)
        yield row  # keeps the event-time timestamp of the input


class EnrichEvents(beam.PTransform):
    def __init__(self, catalog):
        super().__init__()
        self.catalog = catalog

    def expand(self, events):
        return events | "Enrich" >> beam.ParDo(EnrichFn(), beam.pvalue.AsSingleton(self.catalog))
