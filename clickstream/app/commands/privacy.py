"""`clickstream privacy forget | erase | status`: the right to be forgotten."""

from __future__ import annotations

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
from clickstream.app.privacy import erase, forget, requests, rows_deleted, write_erase_script
from clickstream.core.bigquery_clients import bigquery_client
from clickstream.core.config import ERASED_USER_SUPPRESSION_DAYS
from clickstream.core.pseudonyms import KeyringError

privacy_app = typer.Typer(help="Erasure requests (deletion_requests) and the erasure job.", no_args_is_help=True)


def _warehouse(state_dir: Path | None):
    settings = resolve_endpoints(settings_from(state_dir))
    return settings, bigquery_client(settings)


@privacy_app.command("forget")
def forget_cmd(
    user: Annotated[str, typer.Option(help="The person's raw user id (hashed here, never stored)")],
    reason: Annotated[str | None, typer.Option(help="Why, e.g. a ticket number (no personal data)")] = None,
    state_dir: StateDir = None,
) -> None:
    """Record a deletion request; `clickstream privacy erase` (or the scheduled query) carries it out."""
    settings = resolve_endpoints(settings_from(state_dir))
    require_pseudonym_key(settings)  # before anything is recorded: the wrong key would find nobody
    client = bigquery_client(settings)
    try:
        request_id = forget(client, settings, user, reason)
    except (KeyringError, ValueError) as exc:
        fail(str(exc))
    except Exception as exc:
        fail(f"recording the request failed: {one_line(exc)}")
    console.print(f"deletion request {request_id} recorded (pending); run `clickstream privacy erase`")


@privacy_app.command("erase")
def erase_cmd(
    sweep_days: Annotated[
        int,
        typer.Option(
            min=0,
            help="Keep sweeping done requests this many days after they were made: rows of the person the "
            "pipeline still stored later are deleted too (its --erased_user_suppression_days)",
        ),
    ] = ERASED_USER_SUPPRESSION_DAYS,
    state_dir: StateDir = None,
) -> None:
    """Run the erasure job once over every pending or partial request, and over done requests made
    less than --sweep-days ago (sql/privacy/erase.sql)."""
    settings, client = _warehouse(state_dir)
    with console.status("erasing..."):
        try:
            after = erase(client, settings, sweep_days)
        except Exception as exc:
            fail(f"erasure failed: {one_line(exc)}")
    console.print(requests_table(after))


@privacy_app.command("render-sql")
def render_sql_cmd() -> None:
    """Regenerate sql/privacy/erase.sql from erase_head.sql, erase_table.sql (once per table with a
    user_id) and erase_tail.sql; the file is checked in because Terraform reads it as it is."""
    console.print(f"wrote {write_erase_script()}")


@privacy_app.command("status")
def status_cmd(state_dir: StateDir = None) -> None:
    """List deletion requests and their progress."""
    settings, client = _warehouse(state_dir)
    try:
        rows = requests(client, settings)
    except Exception as exc:
        fail(f"reading deletion_requests failed: {one_line(exc)}")
    if not rows:
        console.print("no deletion requests")
        return
    console.print(requests_table(rows))


def requests_table(rows: list[dict]) -> Table:
    """Requests as a table; the pseudonyms are left out (they say nothing to an operator)."""
    table = Table(title="deletion requests")
    for column in ("request", "requested_at", "status", "rows deleted", "detail", "completed_at", "reason"):
        table.add_column(column)
    for row in rows:
        deleted = ", ".join(f"{name} {count}" for name, count in sorted(rows_deleted(row).items()))
        table.add_row(
            row["request_id"][:8],
            _when(row["requested_at"]),
            row["status"],
            deleted or "-",
            row["detail"] or "",
            _when(row["completed_at"]),
            row["reason"] or "",
        )
    return table


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""
