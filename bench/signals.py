"""Signal job time at 100k and 1M events on the local BigQuery stand-in (growth ratio).

Generates events and final sessions with numpy (Zipf-like video popularity, 500 videos,
users scaled with the event count), loads them as Parquet into a fresh dataset of a running
local stack, and times ``run_signals``. Start the stack first (``clickstream local up``).

    python -m bench.signals [--sizes 100000 1000000]
"""

from __future__ import annotations

import argparse
import io
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from google.cloud import bigquery

from bench.common import machine, table
from clickstream.app.cli import resolve_endpoints
from clickstream.app.signals import SignalParams, run_signals
from clickstream.core.bigquery_clients import bigquery_client
from clickstream.core.config import Settings
from clickstream.core.tables import ensure_dataset_and_tables, ensure_views, table_specs

AS_OF = datetime(2026, 3, 1, tzinfo=UTC)
_ARROW = {
    "STRING": pa.string(),
    "INTEGER": pa.int64(),
    "FLOAT": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "TIMESTAMP": pa.timestamp("us", tz="UTC"),
    "BYTES": pa.binary(),
}


def _arrow_schema(table_name: str) -> pa.Schema:
    fields = []
    for f in table_specs()[table_name].fields:
        if f["type"] == "RECORD":
            sub = pa.struct([pa.field(s["name"], _ARROW[s["type"]]) for s in f["fields"]])
            kind = pa.list_(sub) if f.get("mode") == "REPEATED" else sub
        else:
            kind = pa.list_(_ARROW[f["type"]]) if f.get("mode") == "REPEATED" else _ARROW[f["type"]]
        fields.append(pa.field(f["name"], kind))
    return pa.schema(fields)


def generate(n: int, seed: int = 7) -> tuple[pa.Table, pa.Table]:
    rng = np.random.default_rng(seed)
    users = max(100, n // 50)
    popularity = 1 / np.arange(1, 501) ** 0.8
    video = rng.choice(500, size=n, p=popularity / popularity.sum())
    user = rng.integers(0, users, size=n)
    age_s = rng.uniform(0, 35 * 86400, size=n)  # some fall outside the 28-day lookback
    ts = np.datetime64(AS_OF.replace(tzinfo=None), "us") - (age_s * 1e6).astype("timedelta64[us]")
    paused = rng.random(n) < 0.6
    duration = (rng.lognormal(np.log(600_000), 0.6, size=n)).astype(np.int64)
    position = (duration * rng.random(n)).astype(np.int64)
    columns = {
        name: pa.nulls(n, type=field.type)
        for name, field in zip(_arrow_schema("events").names, _arrow_schema("events"), strict=True)
    }
    columns.update(
        {
            "event_id": pa.array([str(uuid.UUID(int=int(x))) for x in rng.integers(0, 2**62, size=n)]),
            "event_type": pa.array(np.where(paused, "VideoPaused", "ThumbnailClicked")),
            "schema_version": pa.array(["1.1"] * n),
            "user_id": pa.array([f"u{u}" for u in user]),
            "device_id": pa.array([f"d{u}" for u in user]),
            "video_id": pa.array([f"vid-{v:06d}" for v in video]),
            "event_ts": pa.array(ts, type=pa.timestamp("us", tz="UTC")),
            "client_event_ts": pa.array(ts, type=pa.timestamp("us", tz="UTC")),
            "sent_at": pa.array(ts, type=pa.timestamp("us", tz="UTC")),
            "processed_at": pa.array(ts, type=pa.timestamp("us", tz="UTC")),
            "position_ms": pa.array(np.where(paused, position, None), type=pa.int64()),
            "video_duration_ms": pa.array(np.where(paused, duration, None), type=pa.int64()),
            "skew_corrected": pa.array(np.zeros(n, dtype=bool)),
            "catalog_hit": pa.array(np.ones(n, dtype=bool)),
        }
    )
    events = pa.table(columns, schema=_arrow_schema("events"))
    # Sessions: ~5 events each, the videos of consecutive events of one user.
    sessions_n = max(1, n // 5)
    start = np.datetime64(AS_OF.replace(tzinfo=None), "us") - (rng.uniform(0, 35 * 86400, sessions_n) * 1e6).astype(
        "timedelta64[us]"
    )
    videos = rng.choice(500, size=(sessions_n, 4), p=popularity / popularity.sum())
    session_rows = {
        "session_id": [uuid.uuid4().hex for _ in range(sessions_n)],
        "user_id": [f"u{u}" for u in rng.integers(0, users, sessions_n)],
        "session_start": start,
        "session_end": start,
        "window_end": start,
        "emitted_at": start,
        "duration_s": np.zeros(sessions_n),
        "event_count": np.full(sessions_n, 4),
        "video_paused_count": np.full(sessions_n, 2),
        "thumbnail_clicked_count": np.full(sessions_n, 2),
        "videos_paused": [
            [{"video_id": f"vid-{v:06d}", "pauses": 1, "max_watch_ratio": 0.5} for v in row[:2]] for row in videos
        ],
        "thumbnails_clicked": [
            [{"video_id": f"vid-{v:06d}", "surface": "home", "slot": 1, "rank": 1, "event_ts": None} for v in row[2:]]
            for row in videos
        ],
        "devices": [["d"]] * sessions_n,
        "pane_timing": ["ON_TIME"] * sessions_n,
        "pane_index": np.zeros(sessions_n, dtype=np.int64),
        "is_final": np.ones(sessions_n, dtype=bool),
    }
    sessions = pa.table(
        {k: pa.array(v, type=_arrow_schema("sessions").field(k).type) for k, v in session_rows.items()},
        schema=_arrow_schema("sessions"),
    )
    return events, sessions


def load(client: bigquery.Client, table_id: str, data: pa.Table) -> None:
    buffer = io.BytesIO()
    pq.write_table(data, buffer)
    buffer.seek(0)
    config = bigquery.LoadJobConfig(
        source_format=bigquery.SourceFormat.PARQUET, write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE
    )
    client.load_table_from_file(buffer, table_id, job_config=config).result()


def main(argv: list[str] | None = None, base: Settings | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    args = parser.parse_args(argv)
    base = base or resolve_endpoints(Settings.from_env())
    if not base.bigquery_endpoint:
        raise SystemExit("start the local stack first: clickstream local up")
    results = []
    for n in args.sizes:
        settings = replace(base, dataset=f"bench_{uuid.uuid4().hex[:8]}")
        client = bigquery_client(settings)
        ensure_dataset_and_tables(client, settings.project, settings.dataset)
        ensure_views(client, settings.project, settings.dataset)
        events, sessions = generate(n)
        started = time.perf_counter()
        load(client, settings.table_id("events"), events)
        load(client, settings.table_id("sessions"), sessions)
        loaded = time.perf_counter() - started
        started = time.perf_counter()
        written = run_signals(client, settings, SignalParams(as_of=AS_OF))
        results.append((n, loaded, time.perf_counter() - started, written))
        client.delete_dataset(settings.project + "." + settings.dataset, delete_contents=True, not_found_ok=True)
    rows = [
        (
            f"{n:,}",
            f"{load_s:.1f}",
            f"{job_s:.1f}",
            f"{n / job_s:,.0f}",
            ", ".join(f"{k.split('_')[-1]}={v}" for k, v in written.items()),
        )
        for n, load_s, job_s, written in results
    ]
    print(
        table(
            f"signal job on the local BigQuery stand-in ({machine()})",
            rows,
            ("events", "load s", "job s", "events/s", "rows written"),
        )
    )
    if len(results) > 1:
        (n0, _, t0, _), (n1, _, t1, _) = results[0], results[-1]
        print(f"growth: {n1 / n0:.0f}x events took {t1 / t0:.1f}x the time")
    return {f"signals_s_{n}": job_s for n, _, job_s, _ in results}


if __name__ == "__main__":
    main()
