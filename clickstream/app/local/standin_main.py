"""Starts the BigQuery stand-in (bqemulator) without a copy of the table after every write, and
without converting every inserted row on its own.

bqemulator keeps time travel by copying the whole table into a snapshot after every write
(``SnapshotManager.record_change`` runs ``CREATE TABLE ... AS SELECT * FROM`` the table on
each insertAll, DML statement, load and Storage Write commit) and keeps the copies for seven
days. An insert therefore cost as much as the table already held: profiled under the local
pipeline at 100 events/s, a third of the stand-in's CPU was those copies, and the stand-in, not
the pipeline, was the busiest process on the machine (docs/local-streaming.md). Nothing in
this project reads an older version of a table (``FOR SYSTEM_TIME AS OF``), so the local
stack starts the stand-in with the copies turned off: every write still announces the change
(``TableDataChanged``, which the stand-in's query cache and materialized views listen to), and
time travel reads the live table, as it does for a table without snapshots.

This file runs under the stand-in's own interpreter (``clickstream local install`` puts
bqemulator in a venv of its own), by path, so it imports nothing of ours. It patches only the
bqemulator versions it was written against (``PATCHED_VERSIONS``, the version
``clickstream.app.local.install`` pins); on another it warns and starts the stand-in unchanged.

With ``skipInvalidRows`` (the sink sends it, so that a refused row becomes a dead letter and the
rest are written), the stand-in converted each row to Arrow alone to find the bad ones, then
the whole request again: the per-row calls were 46% of its CPU in a ten-minute demo at 100
events/s. The launcher converts the whole request first and isolates rows only when that
fails, which answers the same: the conversion is per row against the table's schema, so a
request converts whole exactly when every row converts alone.

What would retire it: a bqemulator option to turn off automatic snapshots, and an insertAll
that converts a request whole before isolating its rows.

    <stand-in python> standin_main.py start --rest-port ... (bqemulator's own arguments)
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

PATCHED_VERSIONS = ("1.4.",)


def _whole_request_first(original: Callable[..., Any], to_arrow: Callable[..., Any]) -> Callable[..., Any]:
    def partition_rows_for_insert(rows: list[dict[str, Any]], arrow_schema: Any) -> Any:
        try:
            to_arrow(rows, arrow_schema)
        except (ValueError, TypeError):  # what the original catches per row: isolate the bad ones
            return original(rows, arrow_schema)
        return rows, []

    return partition_rows_for_insert


def cheaper_writes() -> bool:
    """Make every write announce its change without copying the table, and insertAll convert a
    request whole before it isolates rows; True when applied."""
    found = version("bqemulator")
    if not found.startswith(PATCHED_VERSIONS):
        warnings.warn(
            f"bqemulator {found} is not one of {PATCHED_VERSIONS}: it keeps copying tables on every write",
            stacklevel=2,
        )
        return False
    from bqemulator.api.routes import tabledata
    from bqemulator.domain.events import TableDataChanged
    from bqemulator.versioning.snapshots import SnapshotManager

    def record_change(self, project_id: str, dataset_id: str, table_id: str) -> None:
        self._events.publish(TableDataChanged(project_id, dataset_id, table_id))

    SnapshotManager.record_change = record_change
    tabledata._partition_rows_for_insert = _whole_request_first(
        tabledata._partition_rows_for_insert, tabledata.bq_rows_to_arrow
    )
    return True


if __name__ == "__main__":
    cheaper_writes()
    from bqemulator.cli import main

    sys.argv[0] = "bqemulator"
    main()
