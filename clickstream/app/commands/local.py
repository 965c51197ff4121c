"""`clickstream local install | up | down | status`."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

import typer
from rich.table import Table

from clickstream.app.commands.common import (
    BigqueryGrpcPort,
    BigqueryPort,
    PubsubPort,
    StateDir,
    console,
    fail,
    settings_from,
)
from clickstream.app.local import install, services
from collector.config import LOCAL_WRITE_KEY

CollectorPort = Annotated[int | None, typer.Option(help="HTTP collector port [8087]")]

local_app = typer.Typer(
    help="Run the local stack: Pub/Sub emulator, BigQuery stand-in, HTTP collector.", no_args_is_help=True
)


def _status_table(states: list[services.ServiceState]) -> Table:
    table = Table(title="local stack")
    for column in ("service", "pid", "port", "endpoint", "running", "ready", "log"):
        table.add_column(column)
    for s in states:
        table.add_row(
            s.name,
            str(s.pid or "-"),
            str(s.port),
            s.endpoint,
            "yes" if s.running else "no",
            "yes" if s.ready else "no",
            str(s.log),
        )
    return table


@local_app.command("install")
def local_install(state_dir: StateDir = None) -> None:
    """Install the BigQuery stand-in into its own venv (once)."""
    settings = settings_from(state_dir)
    try:
        python = install.install_bigquery_emulator(settings)
    except services.StackError as exc:
        fail(str(exc))
    console.print(f"BigQuery stand-in ready: {python}")


@local_app.command("up")
def local_up(
    state_dir: StateDir = None,
    pubsub_port: PubsubPort = None,
    bigquery_port: BigqueryPort = None,
    bigquery_grpc_port: BigqueryGrpcPort = None,
    collector_port: CollectorPort = None,
) -> None:
    """Start the emulator, the stand-in and the collector (no-op when running) and provision every resource."""
    settings = settings_from(state_dir, pubsub_port, bigquery_port, bigquery_grpc_port)
    if collector_port is not None:
        settings = replace(settings, collector_port=collector_port)
    try:
        with console.status("starting the local stack (Pub/Sub emulator, BigQuery stand-in, collector)..."):
            states = services.up(settings)
    except services.StackError as exc:
        fail(str(exc))
    console.print(_status_table(states))
    local = settings.with_local_endpoints()
    console.print(
        f"provisioned topic [bold]{local.topic_path}[/] (Avro BINARY, schema {local.schema_path}), "
        f"subscription {local.subscription_path}, dataset {local.project}.{local.dataset}"
    )
    console.print(
        f"collector: curl -X POST http://127.0.0.1:{settings.collector_port}/v1/events "
        f"-H 'X-Write-Key: {LOCAL_WRITE_KEY}' -d @event.json (docs/collector.md)"
    )
    console.print(
        f"export PUBSUB_EMULATOR_HOST={local.pubsub_emulator_host} "
        f"CLICKSTREAM_BIGQUERY_ENDPOINT={local.bigquery_endpoint}"
    )


@local_app.command("down")
def local_down(state_dir: StateDir = None) -> None:
    """Stop, by PID, what `local up` started."""
    stopped = services.down(settings_from(state_dir))
    console.print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")


@local_app.command("status")
def local_status(state_dir: StateDir = None) -> None:
    """Show what runs where."""
    console.print(_status_table(services.status(settings_from(state_dir))))
