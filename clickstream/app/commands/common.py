"""What every command shares: consoles, option types, settings, endpoint resolution, errors."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from clickstream.app.local import services
from clickstream.core.config import PseudonymKeyMissing, Settings

console = Console()
err = Console(stderr=True)

StateDir = Annotated[Path | None, typer.Option(help="Folder for pid files, logs and data [.clickstream]")]
PubsubPort = Annotated[int | None, typer.Option(help="Pub/Sub emulator port [8085]")]
BigqueryPort = Annotated[int | None, typer.Option(help="BigQuery stand-in REST port [9050]")]
BigqueryGrpcPort = Annotated[int | None, typer.Option(help="BigQuery stand-in gRPC port [9060]")]


def settings_from(
    state_dir: Path | None = None,
    pubsub_port: int | None = None,
    bigquery_port: int | None = None,
    bigquery_grpc_port: int | None = None,
) -> Settings:
    try:
        return Settings.from_env(
            state_dir=state_dir,
            pubsub_port=pubsub_port,
            bigquery_port=bigquery_port,
            bigquery_grpc_port=bigquery_grpc_port,
        )
    except ValueError as exc:  # a setting that breaks its rule: one line naming it, no traceback
        fail(str(exc))
        raise  # unreachable: fail() exits


def fail(message: str) -> None:
    err.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(1)


def resolve_endpoints(settings: Settings) -> Settings:
    """Explicit endpoints win; else a running local stack; else real Google Cloud."""
    if settings.pubsub_emulator_host or settings.bigquery_endpoint:
        return settings
    states = {s.name: s for s in services.status(settings)}
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


def one_line(exc: Exception) -> str:
    message = getattr(exc, "message", None) or str(exc)
    return f"{type(exc).__name__}: {message.splitlines()[0] if message else ''}"


def require_pseudonym_key(settings: Settings) -> str:
    """The key source a command hashes raw ids with; one line and exit 1 when talking to real
    BigQuery without ``CLICKSTREAM_PSEUDONYM_KEY`` (the local key file would find nobody there)."""
    try:
        return settings.pseudonym_key_source
    except PseudonymKeyMissing as exc:
        fail(str(exc))
        raise  # unreachable: fail() exits
