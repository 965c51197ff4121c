"""`clickstream collector serve`: the HTTP collector (collector/) on granian or uvicorn.

The server imports the app through the factory ``collector.app:app_from_env`` in its own
worker process, so this command hands the configuration on as environment variables: the
collector's (``CLICKSTREAM_COLLECTOR_*``) and the destination's (``Settings``: project,
topics, emulator). Flags win over the environment, as everywhere. Neither server writes an access log: it would
print every client's full address, where the collector keeps only its network.
"""

from __future__ import annotations

import os
from dataclasses import fields
from enum import StrEnum
from typing import Annotated

import typer

from clickstream.app.commands.common import StateDir, console, fail, resolve_endpoints, settings_from
from clickstream.app.local.collector import settings_env
from clickstream.core.config import Settings
from collector.config import ENV_PREFIX, CollectorConfig

collector_app = typer.Typer(help="The HTTP collector: browsers and apps POST JSON events.", no_args_is_help=True)

FACTORY = "collector.app:app_from_env"


class Server(StrEnum):
    granian = "granian"
    uvicorn = "uvicorn"


def collector_env(config: CollectorConfig) -> dict[str, str]:
    """``config`` as the ``CLICKSTREAM_COLLECTOR_*`` variables ``CollectorConfig.from_env`` reads back."""
    env = {}
    for f in fields(config):
        value = getattr(config, f.name)
        env[ENV_PREFIX + f.name.upper()] = ",".join(value) if isinstance(value, tuple) else str(value)
    return env


def serve(settings: Settings, config: CollectorConfig, host: str, port: int, server: Server, workers: int) -> None:
    """Run the collector in the foreground until SIGINT/SIGTERM."""
    os.environ.update(collector_env(config))
    os.environ.update(settings_env(settings))
    if server is Server.granian:
        from granian import Granian
        from granian.constants import Interfaces

        Granian(
            FACTORY,
            address=host,
            port=port,
            interface=Interfaces.ASGI,
            workers=workers,
            factory=True,
            log_access=False,  # privacy, as below; granian's default, said here so it stays so
        ).serve()
    else:
        import uvicorn

        # X-Forwarded-For is the collector's decision (trusted_proxy_hops), not the server's.
        # No access log: it prints every client's full ip:port, and the collector keeps only
        # the client's network (/24, /48).
        uvicorn.run(FACTORY, factory=True, host=host, port=port, workers=workers, proxy_headers=False, access_log=False)


@collector_app.command("serve")
def serve_cmd(
    host: Annotated[str, typer.Option(help="Address to bind; 0.0.0.0 to serve other machines")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="Port [CLICKSTREAM_COLLECTOR_PORT or 8087]")] = None,
    server: Annotated[Server, typer.Option(help="ASGI server (docs/benchmarks.md: a tie here)")] = Server.uvicorn,
    workers: Annotated[int, typer.Option(help="Server worker processes")] = 1,
    write_key: Annotated[
        list[str] | None, typer.Option(help="Accepted write key (repeat) [CLICKSTREAM_COLLECTOR_WRITE_KEYS]")
    ] = None,
    allowed_origin: Annotated[
        list[str] | None,
        typer.Option(help="Browser origin allowed by CORS (repeat; * for any) [CLICKSTREAM_COLLECTOR_ALLOWED_ORIGINS]"),
    ] = None,
    trusted_proxy_hops: Annotated[
        int | None, typer.Option(help="Proxies in front that append to X-Forwarded-For (Cloud Run: 1) [0]")
    ] = None,
    tracing_exporter: Annotated[str | None, typer.Option(help="none | console | otlp | gcp [none]")] = None,
    tracing_sample_ratio: Annotated[float | None, typer.Option(help="Share of new traces recorded [1.0]")] = None,
    state_dir: StateDir = None,
) -> None:
    """Serve POST /v1/events, /healthz and /readyz (docs/collector.md)."""
    try:
        config = CollectorConfig.from_env(
            write_keys=tuple(write_key or ()),
            allowed_origins=tuple(allowed_origin or ()),
            trusted_proxy_hops=trusted_proxy_hops,
            tracing_exporter=tracing_exporter,
            tracing_sample_ratio=tracing_sample_ratio,
        )
    except ValueError as exc:
        fail(str(exc))
    settings = resolve_endpoints(settings_from(state_dir))
    bound = port if port is not None else settings.collector_port
    console.print(
        f"collector on http://{host}:{bound}/v1/events ({server.value}) -> {settings.topic_path}, "
        f"rejected -> {settings.rejected_topic_path}"
        + (f" via emulator {settings.pubsub_emulator_host}" if settings.pubsub_emulator_host else "")
    )
    serve(settings, config, host, bound, server, workers)
