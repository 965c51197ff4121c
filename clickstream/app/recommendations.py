"""Recommendations for one person or thousands: one run of ``sql/serving/recommend.sql``.

``clickstream recommend`` asks for one person, ``clickstream signals evaluate`` for every person
active in a holdout period; both get the same rows, because it is the same query (a test holds
the batch to the one-person answers).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from google.cloud import bigquery

from clickstream.core.config import Settings
from clickstream.core.paths import sql_dir
from clickstream.core.sql import read_sql, run_script

# The blend's weights (pool_size, category_prior, similar_weight, ctr_weight) and what counts as
# finished (finished_watch_ratio), in one place: the query's header
# says what each does; docs/warehouse.md how they were chosen.
BLEND = json.loads((sql_dir() / "serving" / "params.json").read_text())

# No as_of: the latest signal run (the query takes the latest run at or before @as_of).
_LATEST = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


def recommend(
    client: bigquery.Client,
    settings: Settings,
    people: dict[str, list[str]],
    n: int,
    as_of: datetime | None = None,
) -> dict[str, list[dict]]:
    """person -> up to ``n`` rows (position, video_id, score, reason), best first.

    ``people`` maps a name of the caller's choosing to the person's pseudonyms (under every key
    held: ``Keyring.all_pseudonyms``); the tables hold pseudonyms only. A person with none gets
    trending only. ``as_of``: use the latest signal run at or before it (default: the latest)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a whole number >= 1, not {n!r}")
    if not people:
        return {}
    pairs = [(person, user_id) for person, ids in people.items() for user_id in ids or [""]]
    if as_of is not None and as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=UTC)
    params = {
        "person_ids": [person for person, _ in pairs],
        "user_ids": [user_id for _, user_id in pairs],
        "n": n,
        "as_of": as_of or _LATEST,
        **BLEND,
    }
    rows = run_script(client, settings, read_sql("serving/recommend.sql", settings), params)
    result: dict[str, list[dict]] = {person: [] for person in people}
    for row in rows:
        person = row.pop("person_id")
        result[person].append(row)
    return result
