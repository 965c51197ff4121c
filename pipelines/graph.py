"""The pipeline graph, shared by streaming (Pub/Sub) and replay (files) entry points."""

from __future__ import annotations

from dataclasses import dataclass

import apache_beam as beam
from apache_beam.options.pipeline_options import GoogleCloudOptions, StandardOptions
from apache_beam.transforms import window

from clickstream.core.tables import CATALOG_TABLE, DELETION_REQUESTS_TABLE, table_specs
from pipelines.options import ClickstreamOptions
from pipelines.transforms import DEAD_LETTERS, DUPLICATES, EVENTS, FILTERED, IMPRESSIONS, SESSIONS
from pipelines.transforms.bigquery_sink import WriteRows
from pipelines.transforms.by_user import GROUPED_OUTPUTS, ByUser, rows_of
from pipelines.transforms.collect import RejectedToDeadLetters
from pipelines.transforms.decode import DecodeAndValidate
from pipelines.transforms.dedup import DeduplicateEvents
from pipelines.transforms.enrich import CatalogSideInput, EnrichEvents
from pipelines.transforms.impressions import RouteImpressions
from pipelines.transforms.park import ParkRefusedDeadLetters
from pipelines.transforms.privacy_filter import PrivacyFilter, erased_users_side_input
from pipelines.transforms.sessionize import Sessionize


@dataclass
class Outputs:
    events: beam.PCollection
    impressions: beam.PCollection  # one row per thumbnail of each stored ThumbnailsShown (see grouped)
    sessions: beam.PCollection
    dead_letters: beam.PCollection  # from the collector's rejects and decode/validate; sink rejections join at the sink
    duplicates: beam.PCollection
    filtered: beam.PCollection  # events not stored: consent denied, or a forgotten person's
    # The batch graph's events, impressions, sessions and duplicates: each element the list of
    # one person's rows of the table (``by_user.rows_of``), exploded only by the sinks that need
    # rows. Streaming, and dead letters and filtered rows always: one row each.
    grouped: bool = False
    # A replay's rows besides the graph's, as (table name, row): rows a table refused, sent back,
    # and inputs that were not messages (dead_letters). Kept apart so that the graph's large
    # tables reach their writer without a Flatten, which Beam's portable runner materialises (every row
    # encoded and decoded once more: docs/benchmarks.md, issue 16). ``table_rows`` joins them.
    lineage: beam.PCollection | None = None


def table_rows(outputs: Outputs, name: str) -> beam.PCollection:
    """All the rows of table ``name``, one row per element: the graph's (a grouped table's
    lists exploded, ``Outputs.grouped``) and the lineage's."""
    rows = getattr(outputs, name)
    if outputs.grouped and name in GROUPED_OUTPUTS:
        rows = rows | f"{name.capitalize()}Rows" >> beam.FlatMap(rows_of)
    if outputs.lineage is None:
        return rows
    more = outputs.lineage | f"Lineage{name}" >> beam.FlatMap(lambda kv, table: [kv[1]] if kv[0] == table else [], name)
    return (rows, more) | f"All{name}" >> beam.Flatten()


def process(
    messages: beam.PCollection,
    options: ClickstreamOptions,
    catalog: beam.PCollection,
    rejected: beam.PCollection | None = None,
    erased: beam.PCollection | None = None,
) -> Outputs:
    """RawMessages -> enriched events, impressions, session panes, dead letters and filtered rows (no I/O).
    ``rejected``: the messages of the collector's rejected topic, one ``collect`` dead letter
    each. ``erased``: the erased users (``erased_users_input``); None means nobody (tests of
    other stages; the streaming and replay entry points always pass it)."""
    if erased is None:
        erased = messages.pipeline | "NoErasedUsers" >> beam.Create([{}])
    if not options.view_as(StandardOptions).streaming:
        return _process_batch(messages, options, catalog, rejected, erased)
    decoded = messages | "DecodeAndValidate" >> DecodeAndValidate(
        options.limits(), options.tracing(), options.pseudonym_key, options.consent_default
    )
    kept = decoded.events | "PrivacyFilter" >> PrivacyFilter(
        erased, options.consent_default, options.erased_user_suppression_days
    )
    deduplicated = kept[EVENTS] | "Deduplicate" >> DeduplicateEvents(options.dedup_horizon_s, streaming=True)
    enriched = deduplicated[EVENTS] | "EnrichEvents" >> EnrichEvents(catalog)
    # What was shown leaves here: impressions rows, no events row, no part of a session.
    routed = enriched | "RouteImpressions" >> RouteImpressions()
    events = routed[EVENTS]
    sessions = events | "Sessionize" >> Sessionize(
        options.session_gap_s, options.allowed_lateness_s, options.early_firing_s, streaming=True
    )
    return Outputs(
        events=events,
        impressions=routed[IMPRESSIONS],
        sessions=sessions,
        dead_letters=_with_rejected(decoded[DEAD_LETTERS], rejected, options),
        duplicates=deduplicated[DUPLICATES],
        filtered=kept[FILTERED],
    )


def _process_batch(
    messages: beam.PCollection,
    options: ClickstreamOptions,
    catalog: beam.PCollection,
    rejected: beam.PCollection | None,
    erased: beam.PCollection,
) -> Outputs:
    """The same outputs in batch, in one fused step and one grouping by user (``ByUser``):
    a batch run sees every delivery at once, so no stage needs per-key state or windows."""
    out = messages | "ByUser" >> ByUser(
        erased,
        catalog,
        options.limits(),
        options.tracing(),
        options.pseudonym_key,
        options.consent_default,
        options.erased_user_suppression_days,
        options.session_gap_s,
    )
    return Outputs(
        events=out[EVENTS],
        impressions=out[IMPRESSIONS],
        sessions=out[SESSIONS],
        dead_letters=_with_rejected(out[DEAD_LETTERS], rejected, options),
        duplicates=out[DUPLICATES],
        filtered=out[FILTERED],
        grouped=True,
    )


def _with_rejected(
    dead_letters: beam.PCollection, rejected: beam.PCollection | None, options: ClickstreamOptions
) -> beam.PCollection:
    if rejected is None:
        return dead_letters
    collected = rejected | "CollectorRejected" >> RejectedToDeadLetters(options.pseudonym_key, options.consent_default)
    return (dead_letters, collected) | "DeadLettersWithRejected" >> beam.Flatten()


def _side_input_refresh_s(options: ClickstreamOptions) -> int:
    """How often the slowly-changing side inputs (catalog, erased users) are re-read: every
    ``catalog_refresh_s`` on Dataflow streaming; once at start elsewhere (the local runner cannot
    run PeriodicImpulse, and a batch run is short)."""
    streaming = options.view_as(StandardOptions).streaming
    runner = str(options.view_as(StandardOptions).runner or "").lower()
    return options.catalog_refresh_s if streaming and "dataflow" in runner else 0


def _table_id(options: ClickstreamOptions, name: str) -> tuple[str, str]:
    project = options.bq_project or options.view_as(GoogleCloudOptions).project
    return project, f"{project}.{options.dataset}.{name}"


def catalog_input(pipeline: beam.Pipeline, options: ClickstreamOptions) -> beam.PCollection:
    project, table_id = _table_id(options, CATALOG_TABLE)
    return pipeline | "Catalog" >> CatalogSideInput(
        (options.catalog_path, table_id, options.bigquery_endpoint, project), _side_input_refresh_s(options)
    )


def erased_users_input(pipeline: beam.Pipeline, options: ClickstreamOptions) -> beam.PCollection:
    """The people whose events are dropped (``erased_user``): from ``--deletion_requests_path``
    (tests, offline replay) or the ``deletion_requests`` table, refreshed like the catalog."""
    project, table_id = _table_id(options, DELETION_REQUESTS_TABLE)
    loader_args = (
        options.deletion_requests_path,
        table_id,
        options.bigquery_endpoint,
        project,
    )
    return pipeline | "ErasedUsers" >> erased_users_side_input(loader_args, _side_input_refresh_s(options))


def write_to_bigquery(outputs: Outputs, options: ClickstreamOptions) -> None:
    """The six sinks; rows any table refuses become dead letters too, and a dead letter the
    dead_letters table refuses is parked on Pub/Sub (``transforms.park``)."""
    project = options.bq_project or options.view_as(GoogleCloudOptions).project
    specs = table_specs()

    def table(name: str) -> str:
        return f"{project}.{options.dataset}.{name}"

    def write(label: str, rows: beam.PCollection, name: str):
        return rows | label >> WriteRows(
            project,
            table(name),
            options.bigquery_endpoint,
            row_id=specs[name].row_id,
            method=options.write_method,
            schema={"fields": list(specs[name].fields)},
        )

    rejected_events = write("WriteEvents", table_rows(outputs, "events"), "events")
    rejected_impressions = write("WriteImpressions", table_rows(outputs, "impressions"), "impressions")
    rejected_duplicates = write("WriteDuplicates", table_rows(outputs, "duplicates"), "duplicates")
    rejected_filtered = write("WriteFiltered", table_rows(outputs, "filtered"), "filtered")
    rejected_sessions = write("WriteSessions", table_rows(outputs, "sessions"), "sessions") | (
        "SessionRejectsToGlobal" >> beam.WindowInto(window.GlobalWindows())
    )
    all_dead = (
        table_rows(outputs, "dead_letters"),
        rejected_events,
        rejected_impressions,
        rejected_duplicates,
        rejected_filtered,
        rejected_sessions,
    ) | "AllDeadLetters" >> beam.Flatten()
    refused_dead_letters = write("WriteDeadLetters", all_dead, "dead_letters")
    refused_dead_letters | "ParkRefusedDeadLetters" >> ParkRefusedDeadLetters(options.parked_topic)
