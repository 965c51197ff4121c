"""Running the warehouse SQL in ``sql/`` against the configured BigQuery.

SQL files are real BigQuery Standard SQL with ``${project}``/``${dataset}`` placeholders
(identifiers cannot be query parameters) and ``@name`` query parameters for values. A file
may hold a script of several statements, each ending with ``;`` at the end of a line.

Against real BigQuery a file runs as one script job, so ``BEGIN TRANSACTION ... COMMIT``
makes a signal's delete-and-insert atomic. The local stand-in cannot bind parameters in
multi-statement scripts nor run transactions (measured), so there the statements run one at a
time and the transaction statements are skipped; the SQL itself is the same.

The stand-in has no exception handling either (nor ``@@error``), so the runner plays BigQuery's
part for the one scripting form the erasure job needs: a ``BEGIN ... EXCEPTION WHEN ERROR THEN
... END;`` block (not nested) runs its body statement by statement and, when one fails, skips
the rest of the body and runs the handler with ``@@error.message`` bound to the error's message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from google.cloud import bigquery

from clickstream.core.config import Settings
from clickstream.core.paths import sql_dir

_STATEMENT_END = re.compile(r";[ \t]*(?:\n|$)")
_PARAM = re.compile(r"@([A-Za-z_][A-Za-z0-9_]*)")
_TRANSACTION = re.compile(r"^\s*(BEGIN\s+TRANSACTION|COMMIT\s+TRANSACTION|COMMIT|ROLLBACK)\s*$", re.IGNORECASE)
_BLOCK_BEGIN = re.compile(r"^BEGIN\s+(?!TRANSACTION\b)", re.IGNORECASE)
_BLOCK_HANDLER = re.compile(r"^EXCEPTION\s+WHEN\s+ERROR\s+THEN\s+", re.IGNORECASE)
_BLOCK_END = re.compile(r"^END$", re.IGNORECASE)
_ERROR_MESSAGE = "@@error.message"
_ERROR_PARAM = "_error_message"  # what @@error.message becomes locally: a query parameter


def render_sql(text: str, project: str, dataset: str, **values: str) -> str:
    """Fill in ``${project}``, ``${dataset}`` and the named ``values`` (as Terraform's templatefile
    passes them, e.g. the erasure job's ``sweep_days``); any other "$" is SQL (JSON paths such as
    '$.a', "$$" in a string).

    Not ``string.Template``: it would read ``$$`` as an escaped ``$`` and refuse ``'$.a'``."""
    values = {"project": project, "dataset": dataset, **values}
    placeholder = re.compile(r"\$\{(" + "|".join(re.escape(name) for name in values) + r")\}")
    return placeholder.sub(lambda match: values[match.group(1)], text)


def read_sql(relative: str, settings: Settings) -> str:
    """A file from ``sql/`` with the project and dataset filled in."""
    return render_sql((sql_dir() / relative).read_text(), settings.project, settings.dataset)


def _strip_comments(statement: str) -> str:
    return "\n".join(line for line in statement.splitlines() if not line.strip().startswith("--")).strip()


def statements(script: str) -> list[str]:
    """The statements of a script, comments-only chunks dropped."""
    return [s for s in (_strip_comments(chunk) for chunk in _STATEMENT_END.split(script)) if s]


@dataclass(frozen=True)
class Block:
    """``BEGIN <body> EXCEPTION WHEN ERROR THEN <handler> END``: BigQuery scripting's error handler."""

    body: tuple[str, ...]
    handler: tuple[str, ...]


def script_steps(script: str) -> list[str | Block]:
    """The statements of a script, with each exception block gathered into a ``Block``."""
    steps: list[str | Block] = []
    body: list[str] | None = None
    handler: list[str] | None = None
    for statement in statements(script):
        if _BLOCK_BEGIN.match(statement):
            if body is not None:
                raise ValueError("nested BEGIN ... END blocks are not supported by the local runner")
            body, statement = [], _BLOCK_BEGIN.sub("", statement, count=1)
        elif _BLOCK_HANDLER.match(statement):
            if body is None or handler is not None:
                raise ValueError("EXCEPTION WHEN ERROR THEN outside a BEGIN block")
            handler, statement = [], _BLOCK_HANDLER.sub("", statement, count=1)
        elif _BLOCK_END.match(statement):
            if body is None or handler is None:
                raise ValueError("a BEGIN ... END block needs an EXCEPTION WHEN ERROR THEN handler")
            steps.append(Block(tuple(body), tuple(handler)))
            body = handler = None
            continue
        target = handler if handler is not None else body if body is not None else steps
        target.append(statement)  # type: ignore[union-attr]
    if body is not None:
        raise ValueError("a BEGIN block is never closed with END")
    return steps


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise ValueError(f"BOOL takes true or false, not {text!r}")


def _timestamp(text: str) -> datetime:
    """ISO 8601; without a zone it is UTC, as in BigQuery's own TIMESTAMP literals."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# Each query parameter type: the Python type that carries it and how to read it from text.
# Checked in this order, so bool comes before int and datetime before date (its base class).
PARAMETER_TYPES: dict[str, tuple[type, Callable[[str], Any]]] = {
    "BOOL": (bool, _bool),
    "INT64": (int, int),
    "FLOAT64": (float, float),
    "TIMESTAMP": (datetime, _timestamp),
    "DATE": (date, date.fromisoformat),
    "STRING": (str, str),
}


def typed_value(kind: str, text: str) -> Any:
    """``text`` read as a value of the query parameter type ``kind`` (e.g. ``INT64``); a
    ``ValueError`` that names the type and the value when it is not one."""
    if kind not in PARAMETER_TYPES:
        raise ValueError(f"unknown parameter type {kind}; use one of {', '.join(PARAMETER_TYPES)}")
    try:
        return PARAMETER_TYPES[kind][1](text)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a {kind}" + (f" ({exc})" if kind == "BOOL" else "")) from None


def query_parameter(name: str, value: Any) -> bigquery.ScalarQueryParameter | bigquery.ArrayQueryParameter:
    """A parameter typed by its Python value (``PARAMETER_TYPES``); anything else is a STRING.
    A list or tuple is an ARRAY of its first element's type (STRING when empty)."""
    if isinstance(value, list | tuple):
        kind = next((k for k, (t, _) in PARAMETER_TYPES.items() if value and isinstance(value[0], t)), "STRING")
        return bigquery.ArrayQueryParameter(name, kind, list(value))
    kind = next((k for k, (python_type, _) in PARAMETER_TYPES.items() if isinstance(value, python_type)), "STRING")
    return bigquery.ScalarQueryParameter(name, kind, value)


def run_script(client: bigquery.Client, settings: Settings, script: str, params: dict[str, Any]) -> list[dict]:
    """Run a script with query parameters; returns the rows of its last statement."""
    if not settings.bigquery_endpoint:
        config = bigquery.QueryJobConfig(query_parameters=[query_parameter(k, v) for k, v in params.items()])
        return [dict(row) for row in client.query(script, job_config=config).result()]
    rows: list[dict] = []
    for step in script_steps(script):
        block = step if isinstance(step, Block) else None
        rows = _run_block(client, block, params) if block else _run_statements(client, [str(step)], params)
    return rows


def _run_block(client: bigquery.Client, block: Block, params: dict[str, Any]) -> list[dict]:
    try:
        return _run_statements(client, block.body, params)
    except Exception as exc:  # BigQuery's WHEN ERROR catches every error a statement raises
        message = getattr(exc, "message", None) or str(exc)
        handler = [s.replace(_ERROR_MESSAGE, f"@{_ERROR_PARAM}") for s in block.handler]
        return _run_statements(client, handler, {**params, _ERROR_PARAM: message})


def _run_statements(client: bigquery.Client, statements_: Sequence[str], params: dict[str, Any]) -> list[dict]:
    rows: list[dict] = []
    for statement in statements_:
        if _TRANSACTION.match(statement):
            continue  # the stand-in has no transactions; statements run in order instead
        used = {name: params[name] for name in _PARAM.findall(statement) if name in params}
        missing = set(_PARAM.findall(statement)) - set(params)
        if missing:
            raise ValueError(f"query parameter(s) not given: {', '.join(sorted(missing))}")
        config = bigquery.QueryJobConfig(query_parameters=[query_parameter(k, v) for k, v in used.items()])
        rows = [dict(row) for row in client.query(statement, job_config=config).result()]
    return rows
