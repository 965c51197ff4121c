"""Running the warehouse SQL in ``sql/`` against the configured BigQuery.

SQL files are real BigQuery Standard SQL with ``${project}``/``${dataset}`` placeholders
(identifiers cannot be query parameters) and ``@name`` query parameters for values. A file
may hold a script of several statements, each ending with ``;`` at the end of a line.

Against real BigQuery a file runs as one script job, so ``BEGIN TRANSACTION ... COMMIT``
makes a signal's delete-and-insert atomic. The local stand-in cannot bind parameters in
multi-statement scripts nor run transactions (measured), so there the statements run one at a
time and the transaction statements are skipped; the SQL itself is the same.
"""

from __future__ import annotations

import re
from datetime import datetime
from string import Template
from typing import Any

from google.cloud import bigquery

from clickstream.core.config import Settings
from clickstream.core.paths import sql_dir

_STATEMENT_END = re.compile(r";[ \t]*(?:\n|$)")
_PARAM = re.compile(r"@([A-Za-z_][A-Za-z0-9_]*)")
_TRANSACTION = re.compile(r"^\s*(BEGIN\s+TRANSACTION|COMMIT\s+TRANSACTION|COMMIT|ROLLBACK)\s*$", re.IGNORECASE)


def render_sql(text: str, project: str, dataset: str) -> str:
    """Fill in ``${project}`` and ``${dataset}``, the only substitutions SQL files get."""
    return Template(text).substitute(project=project, dataset=dataset)


def read_sql(relative: str, settings: Settings) -> str:
    """A file from ``sql/`` with the project and dataset filled in."""
    return render_sql((sql_dir() / relative).read_text(), settings.project, settings.dataset)


def _strip_comments(statement: str) -> str:
    return "\n".join(line for line in statement.splitlines() if not line.strip().startswith("--")).strip()


def statements(script: str) -> list[str]:
    """The statements of a script, comments-only chunks dropped."""
    return [s for s in (_strip_comments(chunk) for chunk in _STATEMENT_END.split(script)) if s]


def query_parameter(name: str, value: Any) -> bigquery.ScalarQueryParameter:
    if isinstance(value, bool):
        kind = "BOOL"
    elif isinstance(value, int):
        kind = "INT64"
    elif isinstance(value, float):
        kind = "FLOAT64"
    elif isinstance(value, datetime):
        kind = "TIMESTAMP"
    else:
        kind = "STRING"
    return bigquery.ScalarQueryParameter(name, kind, value)


def run_script(client: bigquery.Client, settings: Settings, script: str, params: dict[str, Any]) -> list[dict]:
    """Run a script with query parameters; returns the rows of its last statement."""
    if not settings.bigquery_endpoint:
        config = bigquery.QueryJobConfig(query_parameters=[query_parameter(k, v) for k, v in params.items()])
        return [dict(row) for row in client.query(script, job_config=config).result()]
    rows: list[dict] = []
    for statement in statements(script):
        if _TRANSACTION.match(statement):
            continue  # the stand-in has no transactions; statements run in order instead
        used = {name: params[name] for name in _PARAM.findall(statement) if name in params}
        missing = set(_PARAM.findall(statement)) - set(params)
        if missing:
            raise ValueError(f"query parameter(s) not given: {', '.join(sorted(missing))}")
        config = bigquery.QueryJobConfig(query_parameters=[query_parameter(k, v) for k, v in used.items()])
        rows = [dict(row) for row in client.query(statement, job_config=config).result()]
    return rows
