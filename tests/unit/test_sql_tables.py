"""Table names live in schemas/bigquery/tables.json; every name the SQL uses is one of them or a view."""

from __future__ import annotations

import re

from clickstream.core.paths import sql_dir
from clickstream.core.tables import CATALOG_TABLE, table_specs, view_queries

_REFERENCE = re.compile(r"`\$\{project\}\.\$\{dataset\}\.(\w+)`")


def test_every_table_the_sql_reads_or_writes_is_declared_once() -> None:
    known = set(table_specs()) | set(view_queries("p", "d"))
    used = {
        (path.relative_to(sql_dir()).as_posix(), name)
        for path in sql_dir().rglob("*.sql")
        for name in _REFERENCE.findall(path.read_text())
    }
    assert used, "no SQL file references a table: the pattern is stale"
    assert sorted((f, n) for f, n in used if n not in known) == []


def test_the_catalog_side_input_reads_a_declared_table() -> None:
    assert CATALOG_TABLE in table_specs()
