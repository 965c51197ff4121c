"""`clickstream query`, `clickstream signals run` and `clickstream recommend`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from clickstream.app.commands.common import (
    StateDir,
    console,
    fail,
    one_line,
    require_pseudonym_key,
    resolve_endpoints,
    settings_from,
)
from clickstream.app.recommendations import recommend
from clickstream.app.signals import SignalParams, run_signals, write_propensity_script
from clickstream.core.bigquery_clients import bigquery_client
from clickstream.core.pseudonyms import KeyringError, load_keyring
from clickstream.core.sql import PARAMETER_TYPES, render_sql, run_script, typed_value

_PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PARAM_HELP = f"name=value (a STRING) or name:TYPE=value ({', '.join(PARAMETER_TYPES)}), repeatable"

signals_app = typer.Typer(help="The recommendation-signal job (sql/signals).", no_args_is_help=True)


def _warehouse(state_dir: Path | None):
    settings = resolve_endpoints(settings_from(state_dir))
    return settings, bigquery_client(settings)


def _parse_param(text: str) -> tuple[str, object]:
    """``name=value`` is a STRING, always (``00123`` stays ``00123``, as with ``bq query``);
    ``name:TYPE=value`` says the type (``PARAMETER_TYPES``: INT64, FLOAT64, BOOL, DATE, ...)."""
    spec, sep, value = text.partition("=")
    name, _, kind = spec.partition(":")
    if not sep or not _PARAM_NAME.fullmatch(name):
        raise typer.BadParameter(f"--param takes name=value or name:TYPE=value, got {text!r}")
    try:
        return name, typed_value(kind.upper() or "STRING", value)
    except ValueError as exc:
        raise typer.BadParameter(f"--param {name}: {exc}") from None


def _print_rows(rows: list[dict], fmt: str) -> None:
    import csv
    import io
    import json

    if fmt == "json":
        print(json.dumps(rows, default=str, indent=2))
    elif fmt == "csv":
        buffer = io.StringIO()
        if rows:
            writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        print(buffer.getvalue(), end="")
    else:
        table = Table()
        for column in rows[0] if rows else []:
            table.add_column(column)
        for row in rows:
            table.add_row(*("" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v) for v in row.values()))
        console.print(table)
        console.print(f"{len(rows)} row(s)")


def query_cmd(
    sql: Annotated[str | None, typer.Argument(help="SQL; ${project} and ${dataset} are filled in")] = None,
    file: Annotated[Path | None, typer.Option("--file", "-f", help="Read the SQL from this file")] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            help="name=value (a STRING) or name:TYPE=value (INT64, FLOAT64, BOOL, DATE, TIMESTAMP), repeatable"
        ),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="table | csv | json")] = "table",
    state_dir: StateDir = None,
) -> None:
    """Query the configured BigQuery (local stand-in or real) and print the result."""
    if (sql is None) == (file is None):
        fail("give the SQL as an argument or with --file, not both")
    if fmt not in ("table", "csv", "json"):
        fail(f"--format must be table, csv or json, not {fmt!r}")
    try:  # bad input is an error before anything talks to BigQuery
        params = dict(_parse_param(p) for p in param or [])
    except typer.BadParameter as exc:
        fail(str(exc))
    settings, client = _warehouse(state_dir)
    text = file.read_text() if file else sql
    try:
        rows = run_script(client, settings, render_sql(text, settings.project, settings.dataset), params)
    except Exception as exc:  # one line, not a traceback: the user mistyped SQL or a parameter
        fail(f"query failed: {one_line(exc)}")
    _print_rows(rows, fmt)


@signals_app.command("run")
def signals_run(
    as_of: Annotated[str | None, typer.Option(help="As-of time (ISO 8601, UTC) [now]")] = None,
    lookback_days: Annotated[int | None, typer.Option(help="Days of events to use [28]")] = None,
    half_life_days: Annotated[float | None, typer.Option(help="Decay half-life in days [7]")] = None,
    top_k: Annotated[int | None, typer.Option(help="Similar videos kept per video [20]")] = None,
    min_support: Annotated[int | None, typer.Option(help="Minimum shared sessions for a pair [2]")] = None,
    keep_runs: Annotated[int | None, typer.Option(help="As-of runs each signal table keeps [7]")] = None,
    em_iterations: Annotated[int | None, typer.Option(help="EM iterations of the position propensity [30]")] = None,
    propensity_floor: Annotated[
        float | None, typer.Option(help="Smallest theta_k/theta_1 the debiased CTR divides by [0.05]")
    ] = None,
    min_impressions: Annotated[int | None, typer.Option(help="Impressions a CTR needs to be supported [100]")] = None,
    state_dir: StateDir = None,
) -> None:
    """Compute the signals (position_propensity, video_ctr, user_video_affinity, video_similarity,
    video_trending) for one as-of time."""
    from dataclasses import fields as dc_fields
    from datetime import UTC, datetime

    when = datetime.now(UTC).replace(microsecond=0) if as_of is None else None
    try:
        when = when or datetime.fromisoformat(as_of.replace("Z", "+00:00"))  # type: ignore[union-attr]
        given = {
            "lookback_days": lookback_days,
            "half_life_days": half_life_days,
            "top_k": top_k,
            "min_support": min_support,
            "keep_runs": keep_runs,
            "em_iterations": em_iterations,
            "propensity_floor": propensity_floor,
            "min_impressions": min_impressions,
        }
        params = SignalParams(as_of=when, **{k: v for k, v in given.items() if v is not None})
    except ValueError as exc:
        fail(str(exc))
    settings, client = _warehouse(state_dir)
    with console.status(f"computing signals as of {params.as_of.isoformat()}..."):
        try:
            written = run_signals(client, settings, params)
        except Exception as exc:
            fail(f"signal job failed: {one_line(exc)}")
    table = Table(title=f"signals as of {params.as_of.isoformat()}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, count in written.items():
        table.add_row(name, str(count))
    console.print(table)
    console.print(", ".join(f"{f.name}={getattr(params, f.name)}" for f in dc_fields(params) if f.name != "as_of"))


@signals_app.command("render-sql")
def render_sql_cmd() -> None:
    """Rewrite sql/signals/position_propensity.sql from its parts (EM iterations unrolled, as many
    as params.json's em_iterations); commit the result (Terraform's scheduled query reads it)."""
    console.print(f"wrote {write_propensity_script()}")


def recommend_cmd(
    user: Annotated[str, typer.Option(help="The raw user id (hashed with the pseudonymisation key)")],
    n: Annotated[int, typer.Option("-n", help="How many candidates")] = 10,
    as_of: Annotated[
        str | None, typer.Option(help="Use the latest signal run at or before this time (ISO 8601, UTC) [latest]")
    ] = None,
    state_dir: StateDir = None,
) -> None:
    """Candidates for one user from the latest signals, with the reason for each."""
    from datetime import datetime

    if n < 1:
        fail("-n must be at least 1")
    try:
        when = datetime.fromisoformat(as_of.replace("Z", "+00:00")) if as_of else None
    except ValueError as exc:
        fail(f"--as-of: {exc}")
    settings = resolve_endpoints(settings_from(state_dir))
    key = require_pseudonym_key(settings)  # before anything talks to BigQuery
    client = bigquery_client(settings)
    try:  # the tables hold pseudonyms only: the raw id is hashed as the pipeline hashed it
        pseudonyms = load_keyring(key).all_pseudonyms(user)
    except KeyringError as exc:
        fail(str(exc))
    try:
        rows = recommend(client, settings, {user: pseudonyms}, n, when)[user]
    except Exception as exc:
        fail(f"recommend failed: {one_line(exc)}")
    if not rows:
        console.print(f"no candidates for {user}: run `clickstream signals run` first")
        return
    console.print(recommendations_table(user, rows))


def recommendations_table(user: str, rows: list[dict]) -> Table:
    """``sql/serving/recommend.sql`` rows as a table: position, video, score, reason."""
    table = Table(title=f"recommendations for {user}")
    for column in ("#", "video_id", "score", "reason"):
        table.add_column(column)
    for row in rows:
        table.add_row(str(row["position"]), row["video_id"], f"{row['score']:.4f}", row["reason"])
    return table
