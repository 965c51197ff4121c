"""Scanning a whole dataset for personal data: every row of every table and view, every string,
and every BYTES value decoded. The erasure test looks for one person's ids after their erasure;
the demo test looks for any raw id the simulator played (a stored raw id is a privacy defect)."""

from __future__ import annotations

import re
from typing import Any

from clickstream.core.bigquery_clients import bigquery_client
from clickstream.core.config import Settings


def table_rows(settings: Settings) -> dict[str, list[dict[str, Any]]]:
    """Table or view name -> all its rows."""
    client = bigquery_client(settings)
    tables = client.query(
        f"SELECT table_name FROM `{settings.project}.{settings.dataset}.INFORMATION_SCHEMA.TABLES`"
    ).result()
    return {
        row["table_name"]: [dict(r) for r in client.query(f"SELECT * FROM `{settings.table_id(row['table_name'])}`")]
        for row in tables
    }


def texts(value: Any) -> list[str]:
    """Every string in a row, and every BYTES value decoded (UTF-8 with replacement, and Latin-1,
    so ids embedded in binary Avro are found too)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, bytes):
        return [value.decode("utf-8", "replace"), value.decode("latin-1")]
    if isinstance(value, dict):
        return [t for v in value.values() for t in texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in texts(v)]
    return []


def holders(rows_by_table: dict[str, list[dict]], needles: list[str]) -> dict[str, int]:
    """Table -> rows in which any needle occurs, anywhere."""
    found = {}
    for table, rows in rows_by_table.items():
        hits = sum(1 for row in rows if any(n in text for text in texts(row) for n in needles))
        if hits:
            found[table] = hits
    return found


def matches(rows_by_table: dict[str, list[dict]], pattern: re.Pattern[str]) -> dict[str, list[str]]:
    """Table -> the distinct texts ``pattern`` finds in it, anywhere."""
    found: dict[str, set[str]] = {}
    for table, rows in rows_by_table.items():
        for row in rows:
            for text in texts(row):
                found.setdefault(table, set()).update(pattern.findall(text))
    return {table: sorted(hits) for table, hits in found.items() if hits}
