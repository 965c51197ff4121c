"""Erasure (the right to be forgotten): deletion requests and the job that carries them out.

``forget`` records a request holding the person's pseudonyms under every key held (the raw id is
hashed here and never stored); ``erase`` runs ``sql/privacy/erase.sql``, the same script the
Terraform scheduled query runs (rendered with the same ``sweep_days``); ``requests`` reads the
requests back for ``privacy status``.
"""

from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path

from google.cloud import bigquery

from clickstream.core.config import ERASED_USER_SUPPRESSION_DAYS, Settings
from clickstream.core.paths import sql_dir
from clickstream.core.pseudonyms import load_keyring
from clickstream.core.sql import read_sql, render_sql, run_script
from clickstream.core.tables import table_specs

# erase.sql is generated from these (erase_table.sql once per erased table, TABLE_PLACEHOLDER filled
# in) and checked in: Terraform's templatefile and ``erase`` read it as it is.
ERASE_PARTS = ("erase_head.sql", "erase_table.sql", "erase_tail.sql")
TABLE_PLACEHOLDER = "<table>"


def erased_tables() -> list[str]:
    """The tables erase.sql deletes a person's rows from: every table of schemas/tables.json with a
    user_id column, but deletion_requests (the pipeline's suppression reads its pseudonyms)."""
    return [
        name for name, spec in table_specs().items() if "user_id" in spec.field_names() and name != "deletion_requests"
    ]


def erase_script() -> str:
    """The text of ``sql/privacy/erase.sql``: the head, one exception block per erased table, the
    tail (``clickstream privacy render-sql`` writes it; a unit test holds the checked-in file to it)."""
    head, block, tail = ((sql_dir() / "privacy" / part).read_text() for part in ERASE_PARTS)
    if TABLE_PLACEHOLDER not in block:
        raise ValueError(f"{ERASE_PARTS[1]} must name its table as {TABLE_PLACEHOLDER}")
    blocks = [block.replace(TABLE_PLACEHOLDER, table) for table in erased_tables()]
    return "\n".join([head, *blocks, tail])


def write_erase_script() -> Path:
    """Rewrite ``sql/privacy/erase.sql`` from its parts; returns its path."""
    path = sql_dir() / "privacy" / "erase.sql"
    path.write_text(erase_script())
    return path


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
