"""Tables created from schemas/ in the BigQuery stand-in, through google-cloud-bigquery."""

from __future__ import annotations

import datetime as dt

import pytest
from google.cloud import bigquery

from clickstream.core.bigquery_clients import bigquery_client
from clickstream.core.config import Settings
from clickstream.core.synthetic_videos import generate_videos
from clickstream.core.tables import ensure_dataset_and_tables, table_specs

pytestmark = pytest.mark.integration


def test_every_table_exists_with_the_schema_partitioning_and_clustering(stack: Settings) -> None:
    client = bigquery_client(stack)
    for spec in table_specs().values():
        table = client.get_table(stack.table_id(spec.name))
        assert [f.name for f in table.schema] == spec.field_names()
        assert [f.field_type for f in table.schema] == [f["type"] for f in spec.fields]
        if spec.partition_field:
            assert table.time_partitioning.field == spec.partition_field
        assert tuple(table.clustering_fields or ()) == spec.clustering


def test_insert_and_query_round_trip_with_nested_fields(stack: Settings) -> None:
    client = bigquery_client(stack)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    row = {
        "message_id": "m-1",
        "publish_time": now.isoformat(),
        "failed_at": now.isoformat(),
        "stage": "validate",
        "reason": "position_negative",
        "error": "position_ms=-5 < 0",
        "event_id": "e-roundtrip",
        "event_type": "VideoPaused",
        "payload": "AAEC",
        "attributes": [{"key": "event_type", "value": "VideoPaused"}],
    }
    assert client.insert_rows_json(stack.table_id("dead_letters"), [row]) == []
    job = client.query(
        f"SELECT reason, payload, ARRAY_LENGTH(attributes) AS n FROM `{stack.table_id('dead_letters')}` "
        "WHERE event_id = @event_id",
        job_config=bigquery.QueryJobConfig(
            query_parameters=[bigquery.ScalarQueryParameter("event_id", "STRING", "e-roundtrip")]
        ),
    )
    (result,) = list(job.result())
    assert result.reason == "position_negative"
    assert result.payload == b"\x00\x01\x02"
    assert result.n == 1


def test_catalog_is_seeded_with_the_ids_the_simulator_uses(stack: Settings) -> None:
    client = bigquery_client(stack)
    rows = list(
        client.query(
            f"SELECT video_id, duration_ms FROM `{stack.table_id('video_catalog')}` ORDER BY video_id"
        ).result()
    )
    expected = generate_videos(stack.catalog_size)
    assert [(r.video_id, r.duration_ms) for r in rows] == [(v.video_id, v.duration_ms) for v in expected]


def test_an_existing_table_gets_the_columns_a_newer_spec_added(stack: Settings) -> None:
    settings = stack.isolated("migrate", own_dataset=True)
    client = bigquery_client(settings)
    client.create_dataset(bigquery.Dataset(f"{settings.project}.{settings.dataset}"))
    spec = table_specs()["dead_letters"]
    old = [f for f in spec.schema() if f.name != "refused_table"]  # dead_letters before refused_table
    client.create_table(bigquery.Table(settings.table_id("dead_letters"), schema=old))
    ensure_dataset_and_tables(client, settings.project, settings.dataset)
    names = [f.name for f in client.get_table(settings.table_id("dead_letters")).schema]
    assert set(names) == set(spec.field_names()) and names[: len(old)] == [f.name for f in old]


def test_a_column_a_newer_spec_added_can_be_written_and_read_on_an_old_table(stack: Settings) -> None:
    """Not only in the table's metadata: a view or an insert that names the new column works on a
    dataset made by an older version (the stand-in's update_table alone changes metadata only,
    which broke `make demo` on a checkout whose local warehouse predated a column)."""
    settings = stack.isolated("migrate-data", own_dataset=True)
    client = bigquery_client(settings)
    client.create_dataset(bigquery.Dataset(f"{settings.project}.{settings.dataset}"))
    spec = table_specs()["duplicates"]
    old = [f for f in spec.schema() if f.name != "user_id"]  # duplicates before issue 13
    client.create_table(bigquery.Table(settings.table_id("duplicates"), schema=old))
    ensure_dataset_and_tables(client, settings.project, settings.dataset)
    row = {f.name: None for f in spec.schema() if f.mode != "REQUIRED"}
    row.update(
        {
            f.name: dt.datetime(2026, 3, 1, tzinfo=dt.UTC).isoformat() if f.field_type == "TIMESTAMP" else "x"
            for f in spec.schema()
            if f.mode == "REQUIRED"
        }
    )
    row["user_id"] = "p-1"
    # No retries: the stand-in answers a row with a column its table lacks with a 500, which the
    # client would otherwise retry for minutes.
    assert client.insert_rows_json(settings.table_id("duplicates"), [row], retry=None) == []
    got = list(client.query(f"SELECT user_id FROM `{settings.table_id('duplicates')}`").result())
    assert [r.user_id for r in got] == ["p-1"]
