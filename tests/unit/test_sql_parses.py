"""Every .sql file parses with sqlglot's BigQuery dialect: a cheap guard against stand-in-only SQL."""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot.errors import ErrorLevel

from clickstream.core.paths import sql_dir
from clickstream.core.sql import statements

SQL_FILES = sorted(sql_dir().rglob("*.sql"))


def test_there_is_sql_to_check() -> None:
    assert {p.parent.name for p in SQL_FILES} == {"views", "signals", "queries", "serving", "demo", "ledger", "privacy"}


@pytest.mark.parametrize("path", SQL_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_parses_as_bigquery(path) -> None:
    parsed = sqlglot.parse(path.read_text(), read="bigquery", error_level=ErrorLevel.RAISE)
    assert [e for e in parsed if e is not None]


def test_statement_splitting_keeps_each_statement_whole() -> None:
    script = (
        "-- header\nBEGIN TRANSACTION;\n\nDELETE FROM t WHERE a = @a;\nINSERT INTO t\nSELECT 1;\nCOMMIT TRANSACTION;\n"
    )
    assert statements(script) == [
        "BEGIN TRANSACTION",
        "DELETE FROM t WHERE a = @a",
        "INSERT INTO t\nSELECT 1",
        "COMMIT TRANSACTION",
    ]
