"""`clickstream pipeline run` (streaming) and `clickstream replay` (batch)."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from clickstream.app.commands.common import (
    StateDir,
    console,
    err,
    fail,
    require_pseudonym_key,
    resolve_endpoints,
    settings_from,
)
from clickstream.core.config import Settings

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


def _google_cloud_credentials_problem() -> str | None:
    """Why Google Cloud cannot be reached from here (no credentials), or None."""
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        google.auth.default()
    except DefaultCredentialsError:
        return "no Google Cloud credentials"
    return None


def _needs_google_cloud(
    settings: Settings, input: str, output_dir: str | None, catalog_path: Path | None, requests_path: Path | None
) -> list[str]:
    """What this replay would read or write on Google Cloud itself (not through a local stack)."""
    needs = []
    if not settings.bigquery_endpoint:
        needs += ["the catalog (no --catalog-path)"] if catalog_path is None else []
        needs += ["the deletion requests (no --deletion-requests-path)"] if requests_path is None else []
        needs += ["the BigQuery output (no --output-dir)"] if not output_dir else []
        needs += ["the bq:// input"] if input.startswith("bq://") else []
    if input.startswith("pubsub://") and not settings.pubsub_emulator_host:
        needs.append("the pubsub:// input")
    needs += [f"{where} on Cloud Storage" for where, path in (("the input", input), ("the output", output_dir))
              if path and path.startswith("gs://")]  # fmt: skip
    return needs


def replay_cmd(
    input: Annotated[
        str,
        typer.Option(
            "--input",
            help="JSON-lines/Avro archive (globs, gs://), bq://PROJECT.DATASET.dead_letters or "
            "pubsub://projects/PROJECT/subscriptions/SUBSCRIPTION (pulled until empty, acked once written)",
        ),
    ],
    output_dir: Annotated[
        str | None, typer.Option(help="Write events/sessions/dead_letters/duplicates .jsonl here [BigQuery]")
    ] = None,
    dead_letter_filter: Annotated[str | None, typer.Option(help="SQL condition on dead_letters (bq:// input)")] = None,
    catalog_path: Annotated[
        Path | None, typer.Option(help="Video catalog as JSON lines, to replay offline (default: the warehouse's)")
    ] = None,
    deletion_requests_path: Annotated[
        Path | None,
        typer.Option(
            help="Deletion requests as JSON lines (user_ids, requested_at): whose events are filtered as "
            "erased_user, to replay offline (default: the warehouse's deletion_requests)"
        ),
    ] = None,
    session_gap_s: Annotated[
        int | None, typer.Option(help="Inactivity gap that closes a session, seconds (default: the pipeline's)")
    ] = None,
    max_event_age_s: Annotated[
        int | None,
        typer.Option(
            help="Events older than this at publish time are dead-lettered, seconds (default: the pipeline's)"
        ),
    ] = None,
    shards: Annotated[
        int,
        typer.Option(
            help="Split a file archive by person into N shards replayed one after another (with --output-dir). "
            "For memory: the in-process runner holds a replay's whole grouping by user in memory, so peak RSS "
            "follows the largest shard, not the archive (about 9 KB per event of a 100k replay)"
        ),
    ] = 1,
    state_dir: StateDir = None,
) -> None:
    """Re-run the pipeline's transforms in batch over archived messages or dead letters.

    Defaults are the pipeline's (docs/options.md). For every other pipeline option run
    python -m pipelines.replay, which takes them all.
    """
    from pipelines import replay  # Beam: imported on use, as in pipeline_run

    # The catalog and deletion requests (and a bq:// input or BigQuery output) come from the configured BigQuery:
    # the local stack when it runs, else Google Cloud.
    settings = resolve_endpoints(settings_from(state_dir))
    needs = _needs_google_cloud(settings, input, output_dir, catalog_path, deletion_requests_path)
    problem = _google_cloud_credentials_problem() if needs else None
    if problem:
        fail(
            f"no local stack and {problem} for {', '.join(needs)}: run `clickstream local up`, pass "
            "--catalog-path FILE --deletion-requests-path FILE --output-dir DIR to replay offline, "
            "or `gcloud auth application-default login`"
        )
    if not needs and not settings.pseudonym_key:
        # Files in, files out: nothing of Google Cloud is read or written, so the state folder's key
        # (the one `local up` made) is the one meant; set CLICKSTREAM_PSEUDONYM_KEY for another.
        settings = replace(settings, pseudonym_key=str(settings.local_pseudonym_key_file))
    require_pseudonym_key(settings)  # replay hashes raw ids: with the pipeline's key, or not at all
    if settings.pubsub_emulator_host:  # a pubsub:// input on the local stack
        os.environ["PUBSUB_EMULATOR_HOST"] = settings.pubsub_emulator_host
    args = [f"--input={input}", *settings.pipeline_args(read_subscription=False)]
    for name, value in (
        ("output_dir", output_dir),
        ("dead_letter_filter", dead_letter_filter),
        ("catalog_path", catalog_path),
        ("deletion_requests_path", deletion_requests_path),
        ("session_gap_s", session_gap_s),
        ("max_event_age_s", max_event_age_s),
        ("shards", shards if shards != 1 else None),
    ):
        if value is not None:
            args.append(f"--{name}={value}")
    started = time.monotonic()
    try:
        result = replay.run(args)
    except Exception as exc:  # a bad path or query is one line for the user, not a traceback
        fail(f"replay failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    for warning in replay.warnings(result, age_flag="--max-event-age-s"):
        err.print(f"[bold yellow]warning:[/] {warning}")
    console.print(
        f"replay finished in {time.monotonic() - started:.1f}s"
        + (f"; files in {output_dir}" if output_dir else "; rows written to BigQuery")
    )
