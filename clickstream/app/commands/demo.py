"""`clickstream demo`: the local path end to end, with a reconciled summary."""

from __future__ import annotations

import logging
import signal
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from clickstream.app.commands.common import StateDir, console, err, one_line, settings_from
from clickstream.app.commands.ledger import ledger_table, off_by
from clickstream.app.commands.warehouse import recommendations_table
from clickstream.app.demo import Demo, DemoError, DemoOptions, Interrupted
from clickstream.app.demo_result import DemoResult


class Via(StrEnum):
    publisher = "publisher"
    collector = "collector"


def demo_cmd(
    duration: Annotated[float | None, typer.Option(help="Seconds of simulated traffic [60]")] = None,
    events: Annotated[int | None, typer.Option(help="Stop the traffic after this many events")] = None,
    rate: Annotated[
        float,
        typer.Option(
            help="Events per second (the local pipeline keeps up with 100/s on 2 cores, docs/local-streaming.md)"
        ),
    ] = 25.0,
    seed: Annotated[int, typer.Option(help="Traffic seed: the same seed plays the same viewers")] = 1,
    keep_running: Annotated[bool, typer.Option(help="Leave the local stack up afterwards, to query it")] = False,
    report: Annotated[Path | None, typer.Option(help="Write charts (PNG) and index.html to this folder")] = None,
    via: Annotated[
        Via, typer.Option(help="publisher: the Python publisher; collector: JSON batches to the local HTTP collector")
    ] = Via.publisher,
    state_dir: StateDir = None,
) -> None:
    """Stack up, pipeline, simulated viewers, signal job; then the summary. Stops what it started."""
    if duration is None and events is None:
        duration = 60.0
    if (duration is not None and duration <= 0) or (events is not None and events <= 0) or rate <= 0:
        err.print("[bold red]error:[/] --duration, --events and --rate must be positive")
        raise typer.Exit(1)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    options = DemoOptions(
        duration_s=duration,
        events=events,
        rate=rate,
        seed=seed,
        keep_running=keep_running,
        report_dir=report,
        via=via.value,
    )
    demo = Demo(settings_from(state_dir), options, say=_say)
    # SIGTERM (a supervisor, `kill`) stops the demo like Ctrl-C: the pipeline child and the
    # services it started are stopped, never left running.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda received, _frame: demo.interrupt(received))
    try:
        result: DemoResult = demo.run()
    except DemoError as exc:
        err.print(f"[bold red]demo failed:[/] {exc}")
        raise typer.Exit(1) from None
    except Interrupted as exc:  # the handlers above turn SIGINT and SIGTERM into this
        err.print("interrupted: everything the demo started has been stopped")
        raise typer.Exit(128 + exc.signum) from None
    except Exception as exc:  # a warehouse or broker error mid-run: one line, not a traceback
        err.print(f"[bold red]demo failed:[/] {one_line(exc)} (everything the demo started has been stopped)")
        raise typer.Exit(1) from None
    _print_summary(result)
    if not result.ledger.balances(result.published):
        raise typer.Exit(2)


def _say(line: str) -> None:
    """Progress lines with the wall-clock time, so waits are visible as waits."""
    import time

    console.print(f"[dim]{time.strftime('%H:%M:%S')}[/] {line}", highlight=False)


def _print_summary(result: DemoResult) -> None:
    ledger, published = result.ledger, result.published
    console.print(ledger_table("where every published event went", ledger, published))
    if ledger.balances(published):
        console.print(f"[bold green]reconciliation OK[/]: {ledger.equation(published)}")
    else:
        console.print(f"[bold red]reconciliation FAILED[/]: {ledger.equation(published)}{off_by(ledger, published)}")
    injected = ", ".join(f"{kind} {n}" for kind, n in sorted(result.by_kind.items()))
    console.print(f"the simulator sent: {injected}")
    median = result.median_session_s
    console.print(
        f"sessions: {len(result.sessions)}"
        + (f", median length {median:.0f}s" if median is not None else "")
        + f"; signal rows: {', '.join(f'{k} {v}' for k, v in result.signal_rows.items())}"
    )

    trending = Table(title="top trending videos")
    for column in ("rank", "video_id", "title", "score", "users"):
        trending.add_column(column)
    for row in result.trending:
        trending.add_row(
            str(row["rank"]), row["video_id"], row["title"] or "", f"{row['score']:.2f}", str(row["unique_users"])
        )
    console.print(trending)
    for user, rows in result.recommendations.items():
        console.print(recommendations_table(user, rows))
    t = result.timings
    console.print("took " + ", ".join(f"{name.replace('_', ' ')} {seconds:.0f}s" for name, seconds in t.items()))
    if result.report_files:
        console.print(f"report: {result.report_files[-1]}")
