"""Stage 2: the privacy filter, right after DecodeAndValidate and before dedup.

Events whose analytics consent is denied, and events of a person who asked to be forgotten,
leave the graph here as ``filtered`` rows (``pipelines.rules.privacy_filter``): nothing of them
reaches dedup state, events, sessions or duplicates. Before dedup, so that a filtered event's
id is not remembered either.
"""

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
from clickstream.core.reasons import FilterReason
from pipelines.rules.privacy_filter import ErasedUsers, erased_users, filter_reason, filtered_row
from pipelines.transforms import EVENTS, FILTERED, METRICS_NAMESPACE
from pipelines.transforms.side_input import RefreshedSideInput


def load_erased_users(
    path: str | None, table_id: str | None, bigquery_endpoint: str | None, project: str | None
) -> dict[str, int]:
    """Pseudonym -> newest deletion request, from a JSON-lines file (tests, replay) or the
    ``deletion_requests`` table: every request, however old, because an event published before
    its request stays filtered whatever the date (a replay)."""
    if path:
        with FileSystems.open(path) as handle:
            rows = [json.loads(line) for line in handle.read().decode().splitlines() if line.strip()]
    else:
        settings = Settings(project=project or Settings().project, bigquery_endpoint=bigquery_endpoint)
        query = f"SELECT user_ids, requested_at FROM `{table_id}`"
        rows = [dict(r) for r in bigquery_client(settings).query(query).result()]
    return erased_users(rows)


def erased_users_side_input(loader_args: tuple[Any, ...], refresh_s: int) -> RefreshedSideInput:
    """The erased users as a singleton side input, loaded and refreshed as the catalog is."""
    return RefreshedSideInput(functools.partial(load_erased_users, *loader_args), refresh_s)


class PrivacyFilterFn(beam.DoFn):
    def __init__(self, consent_default: str, suppression_days: int):
        self.consent_default = consent_default
        self.suppression_days = suppression_days
        self.filtered = {reason: Metrics.counter(METRICS_NAMESPACE, f"filtered_{reason}") for reason in FilterReason}

    def filtered_output(self, event: dict[str, Any], erased: ErasedUsers) -> beam.pvalue.TaggedOutput | None:
        """The ``filtered`` row of an event not to keep (counted), or None to keep it. Also the
        batch graph's fused step (``transforms.by_user``) decides with it."""
        now_ms = time.time_ns() // 1_000_000
        reason = filter_reason(event, self.consent_default, erased, now_ms, self.suppression_days)
        if reason is None:
            return None
        self.filtered[reason].inc()
        return beam.pvalue.TaggedOutput(FILTERED, filtered_row(event, reason, now_ms))

    def process(self, event: dict[str, Any], erased: ErasedUsers):
        # A kept event keeps its event-time timestamp.
        yield self.filtered_output(event, erased) or event


class PrivacyFilter(beam.PTransform):
    """Decoded events -> the events to keep (main output ``EVENTS``) and ``filtered`` rows
    (``FILTERED``). ``erased``: a singleton side input of pseudonym -> newest request time."""

    def __init__(self, erased: beam.PCollection, consent_default: str, suppression_days: int):
        super().__init__()
        self.erased = erased
        self.consent_default = consent_default
        self.suppression_days = suppression_days

    def expand(self, events):
        return events | "Filter" >> beam.ParDo(
            PrivacyFilterFn(self.consent_default, self.suppression_days), beam.pvalue.AsSingleton(self.erased)
        ).with_outputs(FILTERED, main=EVENTS)
