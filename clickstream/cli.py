"""The ``clickstream`` command line: local stack, traffic simulator, contract."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from clickstream import contract, local_stack
from clickstream.config import Settings

app = typer.Typer(help="Clickstream: emitters, pipeline and warehouse on Google Cloud.", no_args_is_help=True)
local_app = typer.Typer(help="Run the local stack: Pub/Sub emulator + BigQuery stand-in.", no_args_is_help=True)
pipeline_app = typer.Typer(help="Run the Beam pipeline.", no_args_is_help=True)
contract_app = typer.Typer(help="Inspect the event contract in schemas/.", no_args_is_help=True)
app.add_typer(local_app, name="local")
app.add_typer(contract_app, name="contract")
app.add_typer(pipeline_app, name="pipeline")
console = Console()
err = Console(stderr=True)

StateDir = Annotated[Path | None, typer.Option(help="Folder for pid files, logs and data [.clickstream]")]
PubsubPort = Annotated[int | None, typer.Option(help="Pub/Sub emulator port [8085]")]
BigqueryPort = Annotated[int | None, typer.Option(help="BigQuery stand-in REST port [9050]")]
BigqueryGrpcPort = Annotated[int | None, typer.Option(help="BigQuery stand-in gRPC port [9060]")]


def _settings(
    state_dir: Path | None = None,
    pubsub_port: int | None = None,
    bigquery_port: int | None = None,
    bigquery_grpc_port: int | None = None,
) -> Settings:
    return Settings.from_env(
        state_dir=state_dir,
        pubsub_port=pubsub_port,
        bigquery_port=bigquery_port,
        bigquery_grpc_port=bigquery_grpc_port,
    )


def _fail(message: str) -> None:
    err.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(1)


def _status_table(states: list[local_stack.ServiceState]) -> Table:
    table = Table(title="local stack")
    for column in ("service", "pid", "endpoint", "running", "ready", "log"):
        table.add_column(column)
    for s in states:
        table.add_row(
            s.name,
            str(s.pid or "-"),
            s.endpoint,
            "yes" if s.running else "no",
            "yes" if s.ready else "no",
            str(s.log),
        )
    return table


@local_app.command("install")
def local_install(state_dir: StateDir = None) -> None:
    """Install the BigQuery stand-in into its own venv (once)."""
    settings = _settings(state_dir)
    try:
        python = local_stack.install_bigquery_emulator(settings)
    except local_stack.StackError as exc:
        _fail(str(exc))
    console.print(f"BigQuery stand-in ready: {python}")


@local_app.command("up")
def local_up(
    state_dir: StateDir = None,
    pubsub_port: PubsubPort = None,
    bigquery_port: BigqueryPort = None,
    bigquery_grpc_port: BigqueryGrpcPort = None,
) -> None:
    """Start the emulator and the stand-in (no-op when running) and provision every resource."""
    settings = _settings(state_dir, pubsub_port, bigquery_port, bigquery_grpc_port)
    try:
        with console.status("starting the local stack (Pub/Sub emulator, BigQuery stand-in)..."):
            states = local_stack.up(settings)
    except local_stack.StackError as exc:
        _fail(str(exc))
    console.print(_status_table(states))
    local = settings.with_local_endpoints()
    console.print(
        f"provisioned topic [bold]{local.topic_path}[/] (Avro BINARY, schema {local.schema_path}), "
        f"subscription {local.subscription_path}, dataset {local.project}.{local.dataset}"
    )
    console.print(
        f"export PUBSUB_EMULATOR_HOST={local.pubsub_emulator_host} "
        f"CLICKSTREAM_BIGQUERY_ENDPOINT={local.bigquery_endpoint}"
    )


@local_app.command("down")
def local_down(state_dir: StateDir = None) -> None:
    """Stop, by PID, what `local up` started."""
    stopped = local_stack.down(_settings(state_dir))
    console.print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")


@local_app.command("status")
def local_status(state_dir: StateDir = None) -> None:
    """Show what runs where."""
    console.print(_status_table(local_stack.status(_settings(state_dir))))


def resolve_endpoints(settings: Settings) -> Settings:
    """Explicit endpoints win; else a running local stack; else real Google Cloud."""
    if settings.pubsub_emulator_host or settings.bigquery_endpoint:
        return settings
    states = {s.name: s for s in local_stack.status(settings)}
    if states["pubsub"].ready:
        # The running stack's own ports (from its pid files), not this shell's defaults.
        local = replace(
            settings, pubsub_port=states["pubsub"].port, bigquery_port=states["bigquery"].port
        ).with_local_endpoints()
        err.print(
            f"[dim]using the local stack: Pub/Sub {local.pubsub_emulator_host}, BigQuery {local.bigquery_endpoint}[/]"
        )
        return local
    return settings


@app.command("emit")
def emit(
    rate: Annotated[float, typer.Option(help="Target events per second")] = 20.0,
    duration: Annotated[float | None, typer.Option(help="Seconds to run")] = None,
    events: Annotated[int | None, typer.Option(help="Stop after this many sends")] = None,
    viewers: Annotated[int | None, typer.Option(help="Viewer pool size [enough for the rate]")] = None,
    seed: Annotated[int, typer.Option(help="Seed: the same seed plays the same traffic")] = 1,
    session_gap: Annotated[float, typer.Option(help="Session gap the viewers respect, seconds")] = 1800.0,
    duplicates: Annotated[float, typer.Option(help="Fraction of events delivered twice")] = 0.0,
    invalid: Annotated[float, typer.Option(help="Fraction of semantically invalid events")] = 0.0,
    late: Annotated[float, typer.Option(help="Fraction of events sent long after they happened")] = 0.0,
    skewed: Annotated[float, typer.Option(help="Fraction of devices whose clock is off")] = 0.0,
    state_dir: StateDir = None,
) -> None:
    """Play simulated viewers against the events topic."""
    from emitters.publisher import EventPublisher, PublisherConfig
    from emitters.simulator import TrafficProfile
    from emitters.traffic import play

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
        )
    except ValueError as exc:
        _fail(str(exc))
    settings = resolve_endpoints(_settings(state_dir))
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


@pipeline_app.command("run", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def pipeline_run(
    ctx: typer.Context,
    local: Annotated[bool, typer.Option(help="Stream from the local emulator into the local stand-in")] = False,
    max_runtime: Annotated[int, typer.Option(help="Local runs: stop after this many seconds (0 = never)")] = 0,
    idle_stop: Annotated[int, typer.Option(help="Local runs: stop after this many seconds without messages")] = 0,
    state_dir: StateDir = None,
) -> None:
    """Run the streaming pipeline; extra arguments are Beam pipeline options (see README)."""
    import os

    from pipelines import streaming

    args = list(ctx.args)
    if local:
        settings = resolve_endpoints(_settings(state_dir))
        if not settings.pubsub_emulator_host:
            _fail("no local stack is running: start it with `clickstream local up`")
        os.environ["PUBSUB_EMULATOR_HOST"] = settings.pubsub_emulator_host
        args = [
            f"--input_subscription={settings.subscription_path}",
            f"--project={settings.project}",
            f"--dataset={settings.dataset}",
            f"--bigquery_endpoint={settings.bigquery_endpoint}",
            *args,
        ]
    if max_runtime:
        args.append(f"--max_runtime_s={max_runtime}")
    if idle_stop:
        args.append(f"--idle_stop_s={idle_stop}")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    console.print(f"running the pipeline with {' '.join(args)}")
    result = streaming.run(args)
    console.print(f"pipeline state: {result.state}")


@app.command("replay", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def replay_cmd(
    ctx: typer.Context,
    input: Annotated[str, typer.Option("--input", help="JSON-lines/Avro archive (globs, gs://) or bq://dataset table")],
    output_dir: Annotated[
        str | None, typer.Option(help="Write events/sessions/dead_letters/duplicates .jsonl here")
    ] = None,
    dead_letter_filter: Annotated[str | None, typer.Option(help="SQL condition on dead_letters (bq:// input)")] = None,
    state_dir: StateDir = None,
) -> None:
    """Re-run the pipeline's transforms in batch over archived messages or dead letters."""
    import time

    from pipelines import replay

    # The catalog (and a bq:// input or BigQuery output) come from the configured BigQuery;
    # pass --catalog_path to replay files fully offline.
    settings = resolve_endpoints(_settings(state_dir))
    args = [f"--input={input}", f"--project={settings.project}", f"--dataset={settings.dataset}", *ctx.args]
    if settings.bigquery_endpoint:
        args.append(f"--bigquery_endpoint={settings.bigquery_endpoint}")
    if output_dir:
        args.append(f"--output_dir={output_dir}")
    if dead_letter_filter:
        args.append(f"--dead_letter_filter={dead_letter_filter}")
    started = time.monotonic()
    try:
        replay.run(args)
    except Exception as exc:  # a bad path or query is one line for the user, not a traceback
        _fail(f"replay failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    console.print(
        f"replay finished in {time.monotonic() - started:.1f}s"
        + (f"; files in {output_dir}" if output_dir else "; rows written to BigQuery")
    )


@contract_app.command("show")
def contract_show() -> None:
    """List contract revisions and the encoded size of sample events."""
    from emitters.events import encode_event
    from emitters.simulator import Simulator, TrafficProfile

    table = Table(title="contract revisions (schemas/avro)")
    table.add_column("version")
    table.add_column("current")
    current = contract.current_version()
    for version in contract.revisions():
        table.add_row(version, "yes" if version == current else "")
    console.print(table)
    import itertools
    import json

    sample = [e.event for e in itertools.islice(Simulator(TrafficProfile(seed=1), 0).emissions(), 1000)]
    avro = sum(len(encode_event(e)) for e in sample) / len(sample)
    as_json = sum(len(json.dumps(e.to_record(), default=str)) for e in sample) / len(sample)
    console.print(f"1000 simulated events: Avro BINARY {avro:.0f} bytes/event, JSON {as_json:.0f} bytes/event")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
