"""`clickstream emit`: the traffic simulator against the events topic."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from clickstream.app.commands.common import (
    StateDir,
    console,
    err,
    fail,
    resolve_endpoints,
    settings_from,
)
from emitters.publisher import EventPublisher, PublisherConfig
from emitters.simulator import TrafficProfile
from emitters.traffic import play


def emit(
    rate: Annotated[float, typer.Option(help="Target events per second")] = 20.0,
    duration: Annotated[float | None, typer.Option(help="Seconds to run")] = None,
    events: Annotated[int | None, typer.Option(help="Stop after this many sends")] = None,
    viewers: Annotated[int | None, typer.Option(help="Viewer pool size [enough for the rate]")] = None,
    seed: Annotated[int, typer.Option(help="Seed: the same seed plays the same traffic")] = 1,
    session_gap: Annotated[float, typer.Option(help="Session gap the viewers respect, seconds")] = 1800.0,
    duplicates: Annotated[float, typer.Option(help="Fraction of events delivered twice")] = 0.0,
    invalid: Annotated[float, typer.Option(help="Fraction of events made semantically invalid")] = 0.0,
    late: Annotated[float, typer.Option(help="Fraction of events sent long after they happened")] = 0.0,
    skewed: Annotated[float, typer.Option(help="Fraction of devices whose clock is off")] = 0.0,
    exploration: Annotated[
        float, typer.Option(help="Fraction of rows randomised by swapping rank 1 with a random rank 2..12")
    ] = 0.0,
    truth: Annotated[
        Path | None,
        typer.Option(help="Write the simulator's ground truth (theta per surface, tastes, appeal) here at the end"),
    ] = None,
    state_dir: StateDir = None,
) -> None:
    """Play simulated viewers against the events topic."""
    if duration is None and events is None:
        duration = 60.0
    try:
        profile = TrafficProfile(
            rate=rate,
            viewers=viewers,
            seed=seed,
            session_gap_s=session_gap,
            duplicates=duplicates,
            invalid=invalid,
            late=late,
            skewed=skewed,
            exploration=exploration,
        )
    except ValueError as exc:
        fail(str(exc))
    if truth is not None and not truth.parent.is_dir():
        fail(f"--truth {truth}: folder {truth.parent} does not exist")
    settings = resolve_endpoints(settings_from(state_dir))
    target = events if events is not None else int(rate * (duration or 0))
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with (
        EventPublisher(PublisherConfig.from_settings(settings)) as publisher,
        Progress(
            TextColumn("[bold]emitting"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=console,
        ) as progress,
    ):
        task = progress.add_task("emit", total=target, info="")

        sent = 0

        def tick(_: object) -> None:
            nonlocal sent
            sent += 1
            if sent % 50:  # a report snapshot takes the publisher's lock: not on every event
                progress.update(task, advance=1)
                return
            report = publisher.report()
            progress.update(task, advance=1, info=f"delivered {report.delivered} spooled {report.spool_depth}")

        summary = play(profile, publisher, max_events=events, duration_s=duration, on_emit=tick)
        progress.update(task, total=summary.sent)
    report = publisher.report()
    table = Table(
        title=f"sent {summary.sent} events in {summary.elapsed_s:.1f}s ({summary.rate:.1f}/s), "
        f"{profile.viewer_count} viewers, seed {seed}"
    )
    table.add_column("kind")
    table.add_column("sent", justify="right")
    for kind, count in sorted(summary.by_kind.items()):
        table.add_row(kind, str(count))
    console.print(table)
    console.print(
        f"rows shown {summary.by_type['ThumbnailsShown']} ({summary.impressions} thumbnails), "
        f"clicks {summary.by_type['ThumbnailClicked']}, pauses {summary.by_type['VideoPaused']}"
    )
    if truth is not None and summary.truth is not None:
        summary.truth.write(truth)
        console.print(
            f"ground truth ({len(summary.truth.viewer_tastes)} viewers, {len(summary.truth.video_appeal)} videos) "
            f"written to {truth}"
        )
    avg = report.accepted_bytes / report.accepted if report.accepted else 0
    console.print(
        f"distinct events {summary.distinct_events}; delivered {report.delivered}; "
        f"rejected {report.rejected}; spooled {report.spool_depth} still on disk; "
        f"Avro BINARY {avg:.0f} bytes/event"
    )
    if report.rejected or report.lost:
        for event_id, error in report.rejections[:5]:
            err.print(f"[red]rejected[/] {event_id}: {error}")
        raise typer.Exit(2)
