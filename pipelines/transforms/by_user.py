"""The batch graph in two steps: one fused step per message, one grouping by user.

A batch replay sees every delivery at once, and the de-duplication key is the person and the
event_id (``rules.dedup.dedup_key``), so one ``GroupByKey`` by user can do what the streaming
graph does in four stages with two shuffles: keep the first delivery of each event_id,
enrich it, route a ThumbnailsShown to impressions, and cut the person's sessions at the gap.

Why this shape (profiled, docs/benchmarks.md): on Beam's Python runner most of a replay's time
was per-element work *around* our code — decoding elements at every stage boundary, a
timestamp and window per element per step — not our code. So:

* decode, validate, the privacy filter and the key are ONE DoFn (tagged outputs for dead
  letters and filtered rows): one element per message crosses one boundary;
* what crosses the shuffle is ``(event_ts_ms, event)`` packed into bytes (``pack``): bytes are
  the cheapest thing for the runner to encode, and the in-process runner holds the whole
  shuffle in memory (as decoded values), where one bytes object per event is about a third of
  a dict's size;
* counters are added once per user, not once per element;
* each output of the grouping holds ONE element per person: the list of that person's rows
  (``rows_of``), exploded only where a sink needs rows one by one (BigQuery). Each element costs
  the runner a window, a sink call and a hop per step whatever it holds: a third of an archive's
  messages are rows of twelve thumbnails, and as rows they were four fifths of the elements
  every later step handled; a list per ThumbnailsShown, then per person, took a replay's CPU
  down twice (docs/benchmarks.md).

The outputs are exactly the streaming transforms' in batch: ``_KeepFirstFn``'s choice of
delivery, ``rules.sessionize.split_sessions`` (which a test holds to Beam's merging
``Sessions`` windows), the same rules for every row.
"""

from __future__ import annotations

import marshal
import pickle
import time
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipelines import tracing
from pipelines.rules import sessionize as sessions
from pipelines.rules.decode import Limits
from pipelines.rules.dedup import duplicate_row, first_and_again
from pipelines.rules.enrich import CatalogEntry, enrich
from pipelines.rules.impressions import impression_rows, is_impressions
from pipelines.rules.privacy_filter import GRANTED, ErasedUsers
from pipelines.timefmt import iso
from pipelines.transforms import (
    DEAD_LETTERS,
    DUPLICATES,
    EVENTS,
    FILTERED,
    IMPRESSIONS,
    METRICS_NAMESPACE,
    SESSIONS,
)
from pipelines.transforms.decode import DecodeAndValidateFn, require_pseudonym_key
from pipelines.transforms.privacy_filter import PrivacyFilterFn

KEYED = "keyed"
# The outputs that hold one element per person: the list of the person's rows (``rows_of``).
GROUPED_OUTPUTS = (EVENTS, IMPRESSIONS, SESSIONS, DUPLICATES)
_MARSHAL, _PICKLE = b"m", b"p"


def pack(event_ts_ms: int, event: dict[str, Any]) -> bytes:
    """``(event_ts_ms, event)`` as the bytes that cross the grouping by user.

    ``marshal`` where it can: an event is built-in types only, and marshal writes and reads
    them in about half of pickle's time (8 + 15 us against 10 + 37 us for a row of thumbnails,
    measured in docs/benchmarks.md). Its format belongs to one Python version, which holds for
    a shuffle (one job's workers run one image). What marshal refuses (a subclass of a built-in
    type) is pickled, so no event is lost to the packing."""
    try:
        return _MARSHAL + marshal.dumps((event_ts_ms, event))
    except ValueError:
        return _PICKLE + pickle.dumps((event_ts_ms, event), protocol=pickle.HIGHEST_PROTOCOL)


def unpack(blob: bytes) -> tuple[int, dict[str, Any]]:
    body = memoryview(blob)[1:]
    return marshal.loads(body) if blob[:1] == _MARSHAL else pickle.loads(body)


def rows_of(element: dict[str, Any] | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows an element of a table's PCollection stands for: in the batch graph one element is
    the list of one person's rows of that table (``ByUser``); a single row (a streaming row, a
    refused row a replay sends back) stands for itself."""
    return element if isinstance(element, list) else [element]


class DecodeFilterKeyFn(DecodeAndValidateFn):
    """DecodeAndValidate and PrivacyFilter in one DoFn: a valid, kept event leaves as
    ``(user_id, pack(event_ts_ms, event))``; dead letters and filtered rows as before."""

    def __init__(
        self,
        limits: Limits,
        pseudonym_key: str,
        tracing_config: tracing.TracingConfig | None,
        consent_default: str,
        suppression_days: int,
    ) -> None:
        super().__init__(limits, pseudonym_key, tracing_config, consent_default)
        self.privacy = PrivacyFilterFn(consent_default, suppression_days)
        self._erased: ErasedUsers = {}

    def process(self, raw, erased: ErasedUsers):  # type: ignore[override]
        self._erased = erased
        yield from super().process(raw)

    def _valid(self, outcome):
        event = outcome.event
        filtered = self.privacy.filtered_output(event, self._erased)
        if filtered is not None:
            yield filtered
            return
        yield event.get("user_id") or "", pack(outcome.event_ts_ms, event)


class _PerUserFn(beam.DoFn):
    """All of one person's kept deliveries: de-duplicate, enrich, route, sessionize. Each output
    gets one element, the list of the person's rows of its table (none when it has none)."""

    def __init__(self, gap_s: int) -> None:
        self.gap_ms = gap_s * 1000
        counter = lambda name: Metrics.counter(METRICS_NAMESPACE, name)  # noqa: E731
        self.unique, self.duplicates = counter("unique_events"), counter("duplicates_dropped")
        self.enriched, self.catalog_misses = counter("enriched"), counter("catalog_misses")
        self.shown, self.impressions = counter("thumbnails_shown"), counter("impressions")
        self.sessions_emitted = counter("sessions_emitted")

    def process(self, element: tuple[str, Any], catalog: dict[str, CatalogEntry]):
        _, blobs = element
        now_ms = time.time_ns() // 1_000_000
        processed_at = iso(now_ms)
        by_id: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        for blob in blobs:
            ts_ms, event = unpack(blob)
            by_id.setdefault(event["event_id"], []).append((ts_ms, event))
        user_id = None
        shown = misses = 0
        events: list[dict[str, Any]] = []
        shown_rows: list[dict[str, Any]] = []
        duplicates: list[dict[str, Any]] = []
        in_sessions: list[sessions.SessionEvent] = []
        for deliveries in by_id.values():
            (ts_ms, first), again = first_and_again(deliveries)
            duplicates.extend(duplicate_row(delivery, now_ms) for _, delivery in again)
            row = enrich(first, catalog, processed_at)
            if is_impressions(row):
                shown += 1
                shown_rows.extend(impression_rows(row))
                misses += sum(not item["catalog_hit"] for item in row["items"])
                continue
            misses += not row["catalog_hit"]
            events.append(row)
            if sessions.counts_in_sessions(row):
                user_id = row["user_id"]
                in_sessions.append(sessions.session_event(row, ts_ms))
        session_rows = list(sessions.final_rows(user_id, in_sessions, self.gap_ms, now_ms))
        self.unique.inc(len(by_id))
        self.enriched.inc(len(by_id))
        for counter, count in (
            (self.duplicates, len(duplicates)),
            (self.catalog_misses, misses),
            (self.shown, shown),
            (self.impressions, len(shown_rows)),
            (self.sessions_emitted, len(session_rows)),
        ):
            if count:
                counter.inc(count)
        if events:
            yield events
        for tag, rows in ((IMPRESSIONS, shown_rows), (DUPLICATES, duplicates), (SESSIONS, session_rows)):
            if rows:
                yield beam.pvalue.TaggedOutput(tag, rows)


class ByUser(beam.PTransform):
    """Batch only: RawMessages -> a dict of PCollections, one per output of the graph
    (``EVENTS``, ``IMPRESSIONS``, ``SESSIONS``, ``DEAD_LETTERS``, ``DUPLICATES``, ``FILTERED``),
    the same rows as DecodeAndValidate | PrivacyFilter | DeduplicateEvents | EnrichEvents |
    RouteImpressions | Sessionize give in batch. Sessions fire once, final (ON_TIME).
    ``EVENTS``, ``IMPRESSIONS``, ``SESSIONS`` and ``DUPLICATES`` hold one element per person: the
    list of the person's rows of that table (``rows_of`` gives the rows of an element), exploded
    by the sinks that need rows; ``DEAD_LETTERS`` and ``FILTERED`` one row per message.

    ``erased`` and ``catalog``: the singleton side inputs of PrivacyFilter and EnrichEvents.
    The outputs carry no event-time timestamps: a batch graph writes them, nothing windows them.
    """

    def __init__(
        self,
        erased: beam.PCollection,
        catalog: beam.PCollection,
        limits: Limits | None = None,
        tracing_config: tracing.TracingConfig | None = None,
        pseudonym_key: str | None = None,
        consent_default: str = GRANTED,
        suppression_days: int = 0,
        gap_s: int = 1800,
    ) -> None:
        super().__init__()
        self.erased, self.catalog = erased, catalog
        self.limits = limits or Limits()
        self.tracing = tracing_config or tracing.TracingConfig()
        self.pseudonym_key = require_pseudonym_key(pseudonym_key)
        self.consent_default, self.suppression_days, self.gap_s = consent_default, suppression_days, gap_s

    def expand(self, messages):
        fn = DecodeFilterKeyFn(
            self.limits, self.pseudonym_key, self.tracing, self.consent_default, self.suppression_days
        )
        first = messages | "DecodeFilterKey" >> beam.ParDo(fn, beam.pvalue.AsSingleton(self.erased)).with_outputs(
            DEAD_LETTERS, FILTERED, main=KEYED
        )
        per_user = (
            first[KEYED]
            | "GroupByUser" >> beam.GroupByKey()
            | "PerUser"
            >> beam.ParDo(_PerUserFn(self.gap_s), beam.pvalue.AsSingleton(self.catalog)).with_outputs(
                *(tag for tag in GROUPED_OUTPUTS if tag != EVENTS), main=EVENTS
            )
        )
        return {tag: per_user[tag] for tag in GROUPED_OUTPUTS} | {tag: first[tag] for tag in (DEAD_LETTERS, FILTERED)}
