"""`clickstream ledger`: where every published message went, and whether it balances."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from clickstream.app.commands.common import StateDir, console, err, fail, one_line, resolve_endpoints, settings_from
from clickstream.core.bigquery_clients import bigquery_client
from clickstream.core.ledger import EPOCH, Ledger, read_ledger


def ledger_table(title: str, ledger: Ledger, published: int | None) -> Table:
    table = Table(title=title, show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    if published is not None:
        table.add_row("events published", str(published))
    table.add_row("events stored", str(ledger.stored))
    if ledger.generated_ids:
        table.add_row("  of which the collector generated the event_id", str(ledger.generated_ids))
    if ledger.bots:
        table.add_row("  of which bots (stored, in no session or signal)", str(ledger.bots))
    if ledger.impressions:
        table.add_row("  of which rows of thumbnails shown (stored as impressions)", str(ledger.impressions))
    for reason, n in sorted(ledger.dead_letters.items(), key=lambda kv: (-kv[1], kv[0])):
        table.add_row(f"dead letter: {reason}", str(n))
    table.add_row("duplicates dropped", str(ledger.duplicates))
    for reason, n in sorted(ledger.filtered.items(), key=lambda kv: (-kv[1], kv[0])):
        table.add_row(f"filtered: {reason}", str(n))
    if ledger.output_rows:
        table.add_row("not a published message: session panes the warehouse refused", str(ledger.output_rows))
    if ledger.replayed:
        table.add_row("not an outcome: dead letters a later replay re-processed", str(ledger.replayed))
    if ledger.redelivered:
        table.add_row("not a published message: redeliveries of a message already counted", str(ledger.redelivered))
    if ledger.doubled:
        table.add_row("events stored twice", str(ledger.doubled))
    return table


def off_by(ledger: Ledger, published: int) -> str:
    """What is wrong with a ledger that does not balance, in words."""
    problems = []
    if ledger.difference(published):
        problems.append(f"off by {ledger.difference(published):+d}")
    if ledger.doubled:
        problems.append(f"{ledger.doubled} event(s) stored twice")
    return f" ({'; '.join(problems)})" if problems else ""


def _parse_since(value: str | None) -> datetime:
    if value is None:
        return EPOCH
    try:
        since = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO 8601 time, e.g. 2026-11-27T06:00:00Z") from None
    return since if since.tzinfo else since.replace(tzinfo=UTC)


def ledger_cmd(
    since: Annotated[
        str | None, typer.Option(help="Only messages published at or after this ISO 8601 time [all]")
    ] = None,
    published: Annotated[
        int | None, typer.Option(help="How many messages were published (the emitters' count) to balance against")
    ] = None,
    state_dir: StateDir = None,
) -> None:
    """Where every published message went: stored, dead-lettered, duplicate or filtered.

    Exits 2 when it does not balance: an event stored twice, or (with --published) a message
    without an outcome or an outcome without a message.
    """
    start = _parse_since(since)
    settings = resolve_endpoints(settings_from(state_dir))
    try:
        ledger = read_ledger(bigquery_client(settings), settings, start)
    except Exception as exc:  # a missing dataset or a warehouse that is down: one line
        fail(f"cannot read the ledger of {settings.project}.{settings.dataset}: {one_line(exc)}")
    title = f"where the messages published since {start.isoformat()} went"
    console.print(ledger_table(title, ledger, published))
    if published is None:
        console.print(ledger.equation())
        if ledger.doubled:
            err.print(f"[bold red]ledger FAILED[/]:{off_by(ledger, ledger.accounted)}")
            raise typer.Exit(2)
        console.print("no event stored twice; pass --published N to check that nothing was lost")
        return
    if ledger.balances(published):
        console.print(f"[bold green]ledger balances[/]: {ledger.equation(published)}")
        return
    err.print(f"[bold red]ledger FAILED[/]: {ledger.equation(published)}{off_by(ledger, published)}")
    raise typer.Exit(2)
