"""Sink rules: the row id BigQuery de-duplicates a re-sent row by, and which errors are quota.

A row id (insertAll's ``insertId``) must be the same every time the same row is sent: a bundle
that fails after part of it was written is retried whole, and BigQuery drops a re-sent row
only when its id is the one it saw first. So the id is derived from the row, from the columns
``schemas/bigquery/tables.json`` names as the table's ``row_id`` (never the wall-clock columns
such as ``failed_at``, which a retry computes anew).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

# BigQuery answers these with HTTP 403, yet they pass: retry them like a 429 or a 5xx.
QUOTA_REASONS = frozenset({"rateLimitExceeded", "quotaExceeded"})


def row_id(row: dict[str, Any], columns: Sequence[str]) -> str | None:
    """The row's id: the column itself when the table names one, else a SHA-256 of the named
    columns' values."""
    if not columns:
        return None
    if len(columns) == 1:
        value = row.get(columns[0])
        return None if value is None else str(value)
    key = json.dumps([row.get(column) for column in columns], default=str, separators=(",", ":"))
    return hashlib.sha256(key.encode()).hexdigest()


def is_quota_error(errors: Sequence[dict[str, Any]] | None) -> bool:
    """Whether an error's ``errors`` list (google.api_core's ``exc.errors``) names a quota reason."""
    return any(isinstance(e, dict) and e.get("reason") in QUOTA_REASONS for e in errors or ())
