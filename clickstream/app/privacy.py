"""Erasure (the right to be forgotten): deletion requests and the job that carries them out.

``forget`` records a request holding the person's pseudonyms under every key held (the raw id is
hashed here and never stored); ``erase`` runs ``sql/privacy/erase.sql``, the same script the
Terraform scheduled query runs (rendered with the same ``sweep_days``); ``requests`` reads the
requests back for ``privacy status``.
"""

from __future__ import annotations

import uuid
from collections import Counter

from google.cloud import bigquery

from clickstream.core.config import ERASED_USER_SUPPRESSION_DAYS, Settings
from clickstream.core.paths import sql_dir
from clickstream.core.pseudonyms import load_keyring
from clickstream.core.sql import read_sql, render_sql, run_script

# The tables erase.sql deletes a person's rows from (every table with a user_id but
# deletion_requests itself; tests/unit/test_privacy_sql.py holds the SQL to this).
ERASED_TABLES = ("events", "sessions", "dead_letters", "duplicates", "filtered", "user_video_affinity")


def forget(client: bigquery.Client, settings: Settings, raw_user_id: str, reason: str | None) -> str:
    """Record a deletion request for ``raw_user_id``; returns its request id.

    ``reason`` is stored as given, so it must not hold the person's id (refused if it does)."""
    if not raw_user_id.strip():
        raise ValueError("--user must not be empty")
    if reason and raw_user_id in reason:
        raise ValueError("the reason must not hold the user id: it is stored as it is (give a ticket number)")
    # Against real BigQuery only the pipeline's key (CLICKSTREAM_PSEUDONYM_KEY) finds the person's rows.
    pseudonyms = load_keyring(settings.pseudonym_key_source).all_pseudonyms(raw_user_id)
    request_id = str(uuid.uuid4())
    params = {"request_id": request_id, "user_ids": pseudonyms, "reason": reason}
    run_script(client, settings, read_sql("privacy/forget.sql", settings), params)
    return request_id


def erase_sql(settings: Settings, sweep_days: int = ERASED_USER_SUPPRESSION_DAYS) -> str:
    """``sql/privacy/erase.sql`` rendered as Terraform renders it: done requests made less than
    ``sweep_days`` days ago are swept again (rows of the person that arrived after the erasure)."""
    if isinstance(sweep_days, bool) or not isinstance(sweep_days, int) or sweep_days < 0:
        raise ValueError(f"the sweep period must be a whole number of days, 0 or more, not {sweep_days!r}")
    text = (sql_dir() / "privacy" / "erase.sql").read_text()
    return render_sql(text, settings.project, settings.dataset, sweep_days=str(sweep_days))


def erase(client: bigquery.Client, settings: Settings, sweep_days: int = ERASED_USER_SUPPRESSION_DAYS) -> list[dict]:
    """One run of the erasure job over every pending or partial request and every done one made less
    than ``sweep_days`` days ago; returns all requests after it."""
    run_script(client, settings, erase_sql(settings, sweep_days), {})
    return requests(client, settings)


def requests(client: bigquery.Client, settings: Settings) -> list[dict]:
    """Every deletion request, newest first."""
    return run_script(client, settings, read_sql("privacy/requests.sql", settings), {})


def rows_deleted(request: dict) -> dict[str, int]:
    """Rows deleted so far per table (a table retried over several runs has one entry per run)."""
    totals: Counter[str] = Counter()
    for entry in request.get("rows_deleted") or []:
        totals[entry["table_name"]] += entry["rows"]
    return dict(totals)
