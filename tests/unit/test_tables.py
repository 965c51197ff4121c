"""BigQuery table specs in schemas/bigquery are complete and self-consistent."""

from __future__ import annotations

import json

import pytest

from clickstream.core.paths import schemas_dir
from clickstream.core.tables import table_specs


def test_every_schema_file_has_table_options_and_back() -> None:
    base = schemas_dir() / "bigquery"
    files = {p.name.removesuffix(".schema.json") for p in base.glob("*.schema.json")}
    options = set(json.loads((base / "tables.json").read_text()))
    assert (
        files
        == options
        == {
            "events",
            "sessions",
            "dead_letters",
            "duplicates",
            "video_catalog",
            "user_video_affinity",
            "video_similarity",
            "video_trending",
            "filtered",
            "impressions",
            "propensity_em_cells",
            "position_propensity",
            "video_ctr",
            "deletion_requests",
        }
    )


def test_partition_and_cluster_fields_exist_with_the_right_types() -> None:
    for spec in table_specs().values():
        types = {f["name"]: f["type"] for f in spec.fields}
        if spec.partition_field:
            assert types[spec.partition_field] == "TIMESTAMP", spec.name
        for name in spec.clustering:
            assert name in types, f"{spec.name} clusters on missing {name}"


def test_events_table_is_partitioned_on_event_time_and_clustered_by_user_and_video() -> None:
    events = table_specs()["events"]
    assert events.partition_field == "event_ts" and events.partition_type == "DAY"
    assert events.clustering == ("user_id", "video_id")


def test_dead_letters_keep_everything_needed_to_replay() -> None:
    names = set(table_specs()["dead_letters"].field_names())
    assert {"payload", "attributes", "stage", "reason", "error", "publish_time", "message_id"} <= names


def test_schemas_convert_to_bigquery_fields() -> None:
    for spec in table_specs().values():
        assert [f.name for f in spec.schema()] == spec.field_names()


def test_every_table_the_pipeline_streams_into_names_its_row_id_columns() -> None:
    specs = table_specs()
    for name in ("events", "sessions", "dead_letters", "duplicates"):
        assert specs[name].row_id, f"{name} has no row_id in tables.json"
        assert set(specs[name].row_id) <= set(specs[name].field_names()), name
        # A wall-clock column would give a retried bundle's rows new ids.
        assert not {"failed_at", "dropped_at", "emitted_at"} & set(specs[name].row_id), name


# Issue 12: trace and collector columns, a contract-compatible revision of both tables.
TRACE_COLUMNS = {
    "events": {
        "trace_id": "STRING",
        "span_id": "STRING",
        "received_at": "TIMESTAMP",
        "client_ip_prefix": "STRING",
        "event_id_generated": "BOOLEAN",
        # issue 13 (privacy): consent and the bot verdict
        "consent_analytics": "BOOLEAN",
        "consent_personalization": "BOOLEAN",
        "consent_policy_version": "STRING",
        "is_bot": "BOOLEAN",
        "bot_reason": "STRING",
    },
    "dead_letters": {"trace_id": "STRING", "span_id": "STRING", "user_id": "STRING", "payload_ids": "STRING"},
    "duplicates": {"user_id": "STRING"},
}


@pytest.mark.parametrize("table", sorted(TRACE_COLUMNS))
def test_trace_columns_are_nullable_and_appended_so_an_existing_table_gains_them_in_place(table: str) -> None:
    """Only NULLABLE columns, after every older one: BigQuery adds them to a live table, old rows
    read NULL, and a table that ``ensure`` extended has the same column order as a new one."""
    fields = table_specs()[table].fields
    added = TRACE_COLUMNS[table]
    tail = fields[-len(added) :]
    assert {f["name"]: f["type"] for f in tail} == added
    assert all(f.get("mode", "NULLABLE") == "NULLABLE" for f in tail)
    assert all(f.get("description") for f in tail)


def test_catalog_duration_may_be_unknown_in_the_table_as_in_the_side_input_file(tmp_path) -> None:
    """The pipeline's catalog file may say "known video, unknown duration" (duration_ms null); the
    video_catalog table must be able to say the same, or the two catalogs disagree."""
    from pipelines.transforms.enrich import load_catalog

    path = tmp_path / "catalog.jsonl"
    path.write_text(
        json.dumps({"video_id": "v", "title": "t", "category": "c", "duration_ms": None, "creator_id": "k"}) + "\n"
    )
    assert load_catalog(str(path), None, None, None)["v"]["duration_ms"] is None
    modes = {f["name"]: f.get("mode", "NULLABLE") for f in table_specs()["video_catalog"].fields}
    assert modes["duration_ms"] == "NULLABLE"
