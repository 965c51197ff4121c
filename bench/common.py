"""Shared inputs for the benchmarks: simulated traffic as pre-encoded Pub/Sub messages."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import itertools
import json
import platform
import resource
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from google.cloud import bigquery

from clickstream.core.config import Settings
from clickstream.core.synthetic_videos import generate_videos
from clickstream.core.tables import table_specs
from emitters.events import encode_event
from emitters.simulator import Simulator, TrafficProfile
from pipelines.archive import to_json_line
from pipelines.messages import RawMessage

START_MS = 1_767_225_600_000


def iter_messages(n: int, seed: int = 1, **knobs: float) -> Iterator[RawMessage]:
    """Simulated traffic as Pub/Sub would deliver it, one message at a time."""
    profile = TrafficProfile(rate=200, session_gap_s=60, seed=seed, **knobs)
    for i, emission in enumerate(itertools.islice(Simulator(profile, START_MS).emissions(), n)):
        event = emission.event
        publish_ms = START_MS + int(emission.due_s * 1000) + 40
        yield RawMessage(encode_event(event), event.attributes(), f"m-{i}", publish_ms)


def messages(n: int, seed: int = 1, **knobs: float) -> list[RawMessage]:
    return list(iter_messages(n, seed, **knobs))


def write_archive(path: Path, msgs: Iterable[RawMessage]) -> Path:
    """The messages as a JSON-lines archive, written as they come (a 1M-message archive is
    never held in memory)."""
    with path.open("w") as handle:
        for m in msgs:
            handle.write(to_json_line(m) + "\n")
    return path


def catalog_dict() -> dict[str, dict]:
    return {
        v.video_id: {"title": v.title, "category": v.category, "duration_ms": v.duration_ms, "creator_id": v.creator_id}
        for v in generate_videos(500)
    }


def write_catalog(path: Path) -> Path:
    path.write_text("\n".join(json.dumps(v.to_row()) for v in generate_videos(500)) + "\n")
    return path


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> str:
    import os

    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def table(title: str, rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(r: tuple[str, ...]) -> str:
        cells = zip(r, widths, strict=True)
        return "  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(cells))

    return "\n".join([title, line(header), line(tuple("-" * w for w in widths)), *map(line, rows)])


@contextlib.contextmanager
def warehouse(base: Settings | None, tag: str) -> Iterator[Settings]:
    """Settings with a fresh dataset of their own: on ``base`` (a running stack) or, without one, on a
    stack started here on free ports in a temporary folder and stopped after. The dataset is dropped."""
    from clickstream.app.local import services
    from clickstream.core.bigquery_clients import bigquery_client
    from clickstream.core.tables import ensure_dataset_and_tables, ensure_views

    with contextlib.ExitStack() as stack:
        if base is None or not base.bigquery_endpoint:
            state = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            base = stack.enter_context(services.running(services.own_stack_settings(state)))
        settings = dataclasses.replace(base, dataset=f"{tag}_{uuid.uuid4().hex[:8]}")
        client = bigquery_client(settings)
        ensure_dataset_and_tables(client, settings.project, settings.dataset)
        ensure_views(client, settings.project, settings.dataset)
        try:
            yield settings
        finally:
            client.delete_dataset(f"{settings.project}.{settings.dataset}", delete_contents=True, not_found_ok=True)


_ARROW = {
    "STRING": pa.string(),
    "INTEGER": pa.int64(),
    "FLOAT": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "TIMESTAMP": pa.timestamp("us", tz="UTC"),
    "BYTES": pa.binary(),
}
SCHEMA_VERSION = "1.3"


def arrow_schema(table_name: str) -> pa.Schema:
    """The table's BigQuery schema (schemas/bigquery) as Arrow, for a Parquet load."""
    fields = []
    for f in table_specs()[table_name].fields:
        if f["type"] == "RECORD":
            sub = pa.struct([pa.field(s["name"], _ARROW[s["type"]]) for s in f["fields"]])
            kind = pa.list_(sub) if f.get("mode") == "REPEATED" else sub
        else:
            kind = pa.list_(_ARROW[f["type"]]) if f.get("mode") == "REPEATED" else _ARROW[f["type"]]
        fields.append(pa.field(f["name"], kind))
    return pa.schema(fields)


def load(client: bigquery.Client, table_id: str, data: pa.Table) -> None:
    buffer = io.BytesIO()
    pq.write_table(data, buffer)
    buffer.seek(0)
    config = bigquery.LoadJobConfig(
        source_format=bigquery.SourceFormat.PARQUET, write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE
    )
    client.load_table_from_file(buffer, table_id, job_config=config).result()
