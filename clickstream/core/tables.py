"""BigQuery table specs read from ``schemas/bigquery`` (the one home of table schemas).

``tables.json`` holds per-table options (description, partitioning, clustering);
``<table>.schema.json`` holds the fields in the format ``bq`` and Terraform read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from google.cloud import bigquery

from clickstream.core.paths import schemas_dir, sql_dir
from clickstream.core.sql import render_sql


@dataclass(frozen=True)
class TableSpec:
    name: str
    description: str
    fields: tuple[dict[str, Any], ...]
    partition_field: str | None
    partition_type: str | None
    clustering: tuple[str, ...]
    # The columns a row's insertId is derived from, so a re-sent row is recognised (a table
    # the pipeline streams into has one; see pipelines/rules/bigquery_sink.py).
    row_id: tuple[str, ...] = ()
    # Days a partition of a table of per-person data is kept (None: forever). Terraform reads the
    # same number from tables.json and lets one variable per table (``retention_variable``) override it.
    partition_expiration_days: int | None = None
    retention_variable: str | None = None

    def schema(self) -> list[bigquery.SchemaField]:
        return [bigquery.SchemaField.from_api_repr(f) for f in self.fields]

    def field_names(self) -> list[str]:
        return [f["name"] for f in self.fields]

    def to_table(self, table_id: str) -> bigquery.Table:
        table = bigquery.Table(table_id, schema=self.schema())
        table.description = self.description
        if self.partition_field:
            table.time_partitioning = bigquery.TimePartitioning(
                type_=self.partition_type or "DAY",
                field=self.partition_field,
                expiration_ms=self.partition_expiration_days * 86_400_000 if self.partition_expiration_days else None,
            )
        if self.clustering:
            table.clustering_fields = list(self.clustering)
        return table


# The table the pipeline's catalog side input reads (a key of tables.json).
CATALOG_TABLE = "video_catalog"
# The table the pipeline's erased-users side input reads (pipelines.graph.erased_users_input).
DELETION_REQUESTS_TABLE = "deletion_requests"
# Lineage column of events, dead_letters and duplicates: set only on the rows a replay wrote
# (pipelines.replay), to when it started; the streaming pipeline's rows leave it out.
REPLAYED_AT = "replayed_at"


@cache
def table_specs() -> dict[str, TableSpec]:
    base = schemas_dir() / "bigquery"
    options = json.loads((base / "tables.json").read_text())
    specs = {}
    for name, opts in options.items():
        fields = json.loads((base / f"{name}.schema.json").read_text())
        partitioning = opts.get("time_partitioning") or {}
        specs[name] = TableSpec(
            name=name,
            description=opts.get("description", ""),
            fields=tuple(fields),
            partition_field=partitioning.get("field"),
            partition_type=partitioning.get("type"),
            clustering=tuple(opts.get("clustering", ())),
            row_id=tuple(opts.get("row_id", ())),
            partition_expiration_days=opts.get("partition_expiration_days"),
            retention_variable=opts.get("retention_variable"),
        )
    return specs


def ensure_dataset_and_tables(client: bigquery.Client, project: str, dataset: str) -> list[str]:
    """Create the dataset and every table from the specs. An existing table keeps its data and
    gets the columns a newer spec added (the evolution policy only adds NULLABLE columns, which
    BigQuery accepts in place), so views that read a new column work on an old dataset."""
    client.create_dataset(bigquery.Dataset(f"{project}.{dataset}"), exists_ok=True)
    created = []
    for spec in table_specs().values():
        table = client.create_table(spec.to_table(f"{project}.{dataset}.{spec.name}"), exists_ok=True)
        have = {f.name for f in table.schema}
        missing = [f for f in spec.schema() if f.name not in have]
        if missing:
            table.schema = [*table.schema, *missing]
            client.update_table(table, ["schema"])
            # The same columns by DDL: a no-op on BigQuery (update_table added them), and what adds
            # them to the data on the local stand-in, whose update_table changes metadata only.
            for field in missing:
                client.query(
                    f"ALTER TABLE `{table.full_table_id.replace(':', '.')}` "
                    f"ADD COLUMN IF NOT EXISTS `{field.name}` {_ddl_type(field)}"
                ).result()
        created.append(spec.name)
    return created


_DDL_TYPES = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL", "RECORD": "STRUCT"}


def _ddl_type(field: bigquery.SchemaField) -> str:
    """A column's type in GoogleSQL DDL (``ARRAY<STRUCT<a STRING, ...>>`` for repeated records)."""
    if field.field_type in ("RECORD", "STRUCT"):
        kind = "STRUCT<" + ", ".join(f"`{f.name}` {_ddl_type(f)}" for f in field.fields) + ">"
    else:
        kind = _DDL_TYPES.get(field.field_type, field.field_type)
    return f"ARRAY<{kind}>" if field.mode == "REPEATED" else kind


def view_queries(project: str, dataset: str) -> dict[str, str]:
    """View name -> SELECT, from ``sql/views/<name>.sql`` with ${project}/${dataset} filled in."""
    return {
        path.stem: render_sql(path.read_text(), project, dataset)
        for path in sorted((sql_dir() / "views").glob("*.sql"))
    }


def _dependency_order(queries: dict[str, str]) -> list[tuple[str, str]]:
    """Views that read other views come after them (BigQuery checks references on create)."""
    pending, ordered = dict(queries), []
    while pending:
        ready = sorted(n for n, q in pending.items() if not any(f".{o}`" in q for o in pending if o != n))
        if not ready:
            raise ValueError(f"views reference each other in a cycle: {sorted(pending)}")
        ordered.extend((n, pending.pop(n)) for n in ready)
    return ordered


def ensure_views(client: bigquery.Client, project: str, dataset: str) -> list[str]:
    """Create or replace every view from ``sql/views``."""
    names = []
    for name, query in _dependency_order(view_queries(project, dataset)):
        view = bigquery.Table(f"{project}.{dataset}.{name}")
        view.view_query = query
        client.delete_table(view, not_found_ok=True)
        client.create_table(view)
        names.append(name)
    return names
