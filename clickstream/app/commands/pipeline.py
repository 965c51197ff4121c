"""`clickstream pipeline run` (streaming) and `clickstream replay` (batch)."""

from __future__ import annotations

import logging
import os
import time
from typing import Annotated

import typer

from clickstream.app.commands.common import (
    StateDir,
    console,
    fail,
    resolve_endpoints,
    settings_from,
)

pipeline_app = typer.Typer(help="Run the Beam pipeline.", no_args_is_help=True)


@pipeline_app.command("run", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def pipeline_run(
    ctx: typer.Context,
    local: Annotated[bool, typer.Option(help="Stream from the local emulator into the local stand-in")] = False,
    max_runtime: Annotated[int, typer.Option(help="Local runs: stop after this many seconds (0 = never)")] = 0,
    idle_stop: Annotated[int, typer.Option(help="Local runs: stop after this many seconds without messages")] = 0,
    state_dir: StateDir = None,
) -> None:
    """Run the streaming pipeline; extra arguments are Beam pipeline options (docs/options.md)."""
    # Beam takes seconds to import; only this command and `replay` need it, so `clickstream
    # --help` and every other command stay fast.
    from clickstream.app.local import runner
    from pipelines import streaming

    args = list(ctx.args)
    if local:
        settings = resolve_endpoints(settings_from(state_dir))
        if not settings.pubsub_emulator_host:
            fail("no local stack is running: start it with `clickstream local up`")
        os.environ["PUBSUB_EMULATOR_HOST"] = settings.pubsub_emulator_host
        args = [*settings.pipeline_args(), *args]
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    console.print(f"running the pipeline with {' '.join(args)}")
    if local or max_runtime or idle_stop:
        result = runner.run(args, runner.LocalStop(max_runtime, idle_stop))
    else:
        result = streaming.run(args)
    console.print(f"pipeline state: {result.state}")


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
    from pipelines import replay  # Beam: imported on use, as in pipeline_run

    # The catalog (and a bq:// input or BigQuery output) come from the configured BigQuery;
    # pass --catalog_path to replay files fully offline.
    settings = resolve_endpoints(settings_from(state_dir))
    args = [f"--input={input}", *settings.pipeline_args(read_subscription=False), *ctx.args]
    if output_dir:
        args.append(f"--output_dir={output_dir}")
    if dead_letter_filter:
        args.append(f"--dead_letter_filter={dead_letter_filter}")
    started = time.monotonic()
    try:
        replay.run(args)
    except Exception as exc:  # a bad path or query is one line for the user, not a traceback
        fail(f"replay failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    console.print(
        f"replay finished in {time.monotonic() - started:.1f}s"
        + (f"; files in {output_dir}" if output_dir else "; rows written to BigQuery")
    )
