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
signals_app = typer.Typer(help="The recommendation-signal job (sql/signals).", no_args_is_help=True)
contract_app = typer.Typer(help="Inspect the event contract in schemas/.", no_args_is_help=True)
app.add_typer(local_app, name="local")
app.add_typer(contract_app, name="contract")
app.add_typer(pipeline_app, name="pipeline")
app.add_typer(signals_app, name="signals")
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


def _warehouse(state_dir: Path | None):
    from clickstream.clients import bigquery_client

    settings = resolve_endpoints(_settings(state_dir))
    return settings, bigquery_client(settings)


def _parse_param(text: str) -> tuple[str, object]:
    """``name=value`` with the type inferred (INT64, FLOAT64, TIMESTAMP, else STRING),
    or ``name:TYPE=value`` to say it."""
    from datetime import datetime

    name, sep, value = text.partition("=")
    if not sep or not name:
        raise typer.BadParameter(f"--param takes name=value, got {text!r}")
    name, _, kind = name.partition(":")
    kind = kind.upper()
    converters = {
        "INT64": int,
        "FLOAT64": float,
        "STRING": str,
        "BOOL": lambda v: v.lower() in ("1", "true", "yes"),
        "TIMESTAMP": lambda v: datetime.fromisoformat(v.replace("Z", "+00:00")),
    }
    if kind:
        if kind not in converters:
            raise typer.BadParameter(f"unknown parameter type {kind}; use one of {', '.join(converters)}")
        return name, converters[kind](value)
    for convert in (int, float, converters["TIMESTAMP"]):
        try:
            return name, convert(value)
        except ValueError:
            continue
    return name, value


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


def _one_line(exc: Exception) -> str:
    message = getattr(exc, "message", None) or str(exc)
    return f"{type(exc).__name__}: {message.splitlines()[0] if message else ''}"


@app.command("query")
def query_cmd(
    sql: Annotated[str | None, typer.Argument(help="SQL; ${project} and ${dataset} are filled in")] = None,
    file: Annotated[Path | None, typer.Option("--file", "-f", help="Read the SQL from this file")] = None,
    param: Annotated[list[str] | None, typer.Option(help="name=value or name:TYPE=value, repeatable")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table | csv | json")] = "table",
    state_dir: StateDir = None,
) -> None:
    """Query the configured BigQuery (local stand-in or real) and print the result."""
    from string import Template

    from clickstream.warehouse import run_script

    if (sql is None) == (file is None):
        _fail("give the SQL as an argument or with --file, not both")
    if fmt not in ("table", "csv", "json"):
        _fail(f"--format must be table, csv or json, not {fmt!r}")
    settings, client = _warehouse(state_dir)
    text = file.read_text() if file else sql
    try:
        params = dict(_parse_param(p) for p in param or [])
        rows = run_script(
            client, settings, Template(text).safe_substitute(project=settings.project, dataset=settings.dataset), params
        )
    except typer.BadParameter as exc:
        _fail(str(exc))
    except Exception as exc:  # one line, not a traceback: the user mistyped SQL or a parameter
        _fail(f"query failed: {_one_line(exc)}")
    _print_rows(rows, fmt)


@signals_app.command("run")
def signals_run(
    as_of: Annotated[str | None, typer.Option(help="As-of time (ISO 8601, UTC) [now]")] = None,
    lookback_days: Annotated[int | None, typer.Option(help="Days of events to use [28]")] = None,
    half_life_days: Annotated[float | None, typer.Option(help="Decay half-life in days [7]")] = None,
    top_k: Annotated[int | None, typer.Option(help="Similar videos kept per video [20]")] = None,
    min_support: Annotated[int | None, typer.Option(help="Minimum shared sessions for a pair [2]")] = None,
    state_dir: StateDir = None,
) -> None:
    """Compute user_video_affinity, video_similarity and video_trending for one as-of time."""
    from dataclasses import fields as dc_fields
    from datetime import UTC, datetime

    from clickstream.signals import SignalParams, run_signals

    when = datetime.now(UTC).replace(microsecond=0) if as_of is None else None
    try:
        when = when or datetime.fromisoformat(as_of.replace("Z", "+00:00"))  # type: ignore[union-attr]
        given = {
            "lookback_days": lookback_days,
            "half_life_days": half_life_days,
            "top_k": top_k,
            "min_support": min_support,
        }
        params = SignalParams(as_of=when, **{k: v for k, v in given.items() if v is not None})
    except ValueError as exc:
        _fail(str(exc))
    settings, client = _warehouse(state_dir)
    with console.status(f"computing signals as of {params.as_of.isoformat()}..."):
        try:
            written = run_signals(client, settings, params)
        except Exception as exc:
            _fail(f"signal job failed: {_one_line(exc)}")
    table = Table(title=f"signals as of {params.as_of.isoformat()}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, count in written.items():
        table.add_row(name, str(count))
    console.print(table)
    console.print(", ".join(f"{f.name}={getattr(params, f.name)}" for f in dc_fields(params) if f.name != "as_of"))


@app.command("recommend")
def recommend_cmd(
    user: Annotated[str, typer.Option(help="User id")],
    n: Annotated[int, typer.Option("-n", help="How many candidates")] = 10,
    state_dir: StateDir = None,
) -> None:
    """Candidates for one user from the latest signals, with the reason for each."""
    from clickstream.warehouse import read_sql, run_script

    settings, client = _warehouse(state_dir)
    try:
        rows = run_script(client, settings, read_sql("serving/recommend.sql", settings), {"user_id": user, "n": n})
    except Exception as exc:
        _fail(f"recommend failed: {_one_line(exc)}")
    if not rows:
        console.print(f"no candidates for {user}: run `clickstream signals run` first")
        return
    table = Table(title=f"recommendations for {user}")
    for column in ("#", "video_id", "score", "reason"):
        table.add_column(column)
    for row in rows:
        table.add_row(str(row["position"]), row["video_id"], f"{row['score']:.4f}", row["reason"])
    console.print(table)


@app.command("deploy")
def deploy_cmd(
    project: Annotated[str, typer.Option(help="Google Cloud project id")],
    region: Annotated[str, typer.Option(help="Region for Dataflow, BigQuery and the bucket")] = "us-central1",
    tag: Annotated[str | None, typer.Option(help="Image and template tag [the git commit]")] = None,
    name_prefix: Annotated[str, typer.Option(help="Prefix of resource names")] = "clickstream",
    yes: Annotated[bool, typer.Option("--yes", help="Apply Terraform without asking")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the exact commands, run nothing")] = False,
) -> None:
    """Build the image (Cloud Build), build the Flex Template, then apply Terraform."""
    from clickstream import deploy

    plan = deploy.DeployPlan(project, region, tag or deploy.current_tag(), name_prefix, yes)
    console.print(f"deploying image {plan.image}\n          template {plan.template}")
    code = deploy.run(plan, dry_run, lambda line: console.print(line, markup=False, highlight=False, soft_wrap=True))
    if code:
        raise typer.Exit(code)


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
