"""Signal job time at 100k and 1M events on the local BigQuery stand-in (growth ratio).

Generates events, as many impressions (rows of 12; every click event is the click of one of
them) and final sessions with numpy (Zipf-like video popularity, 500 videos, users scaled with
the event count), loads them as Parquet into a fresh dataset, and times ``run_signals``, so the
linearity goal (10x the events in at most 12x the time) covers the propensity and CTR SQL too.
Uses a running local stack (``clickstream local up``) or starts one of its own on free ports.

    python -m bench.signals [--sizes 100000 1000000]
"""

from __future__ import annotations

import argparse
import time
import uuid
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

from bench.common import arrow_schema, load, machine, peak_rss_mb, table, warehouse
from clickstream.app.cli import resolve_endpoints
from clickstream.app.signals import SignalParams, run_signals
from clickstream.core.bigquery_clients import bigquery_client
from clickstream.core.config import Settings

AS_OF = datetime(2026, 3, 1, tzinfo=UTC)
SURFACES = ("home", "search", "up_next", "channel", "notifications")
ROW = 12  # thumbnails per rendered row
SESSION_S = 1800


def _ago(seconds: np.ndarray) -> np.ndarray:
    return np.datetime64(AS_OF.replace(tzinfo=None), "us") - (seconds * 1e6).astype("timedelta64[us]")


def _ids(rng: np.random.Generator, n: int) -> list[str]:
    return [str(uuid.UUID(int=int(x))) for x in rng.integers(0, 2**62, size=n)]


def generate(n: int, seed: int = 7) -> tuple[pa.Table, pa.Table, pa.Table]:
    """n events, ~n impressions (rows of 12) and n/5 sessions. Every click event is the click of one
    impression (chosen with a 1/slot position bias), so impression_clicks and the EM have work to do."""
    rng = np.random.default_rng(seed)
    users = max(100, n // 50)
    popularity = 1 / np.arange(1, 501) ** 0.8
    # Sessions of 30 minutes, ~5 events each; every event and every row of thumbnails falls in one
    # (video_similarity joins events to their session by user and time).
    sessions_n = max(1, n // 5)
    session_user = rng.integers(0, users, sessions_n)
    session_age = rng.uniform(SESSION_S, 35 * 86400, sessions_n)  # some fall outside the 28-day lookback
    video = rng.choice(500, size=n, p=popularity / popularity.sum())
    of_session = rng.integers(0, sessions_n, size=n)
    user = session_user[of_session]
    age_s = session_age[of_session] - rng.uniform(0, SESSION_S, size=n)
    paused = rng.random(n) < 0.6
    # Impressions: rows of 12 thumbnails, one user, time and surface per row.
    rows_n = max(1, n // ROW)
    shown_n = rows_n * ROW
    row_session = rng.integers(0, sessions_n, size=rows_n)
    row_user = session_user[row_session]
    row_age = session_age[row_session] - rng.uniform(10, SESSION_S, size=rows_n)
    row_surface = rng.choice(np.array(SURFACES), size=rows_n)
    slot = np.tile(np.arange(1, ROW + 1), rows_n)
    shown_video = rng.choice(500, size=shown_n, p=popularity / popularity.sum())
    impression_ids = _ids(rng, shown_n)
    # The clicks: as many impressions as click events, without replacement, weighted 1/slot (Gumbel top-k).
    clicks = np.flatnonzero(~paused)
    keys = np.log(rng.random(shown_n)) * slot
    clicked = np.argpartition(-keys, min(len(clicks), shown_n) - 1)[: len(clicks)]
    clicks = clicks[: len(clicked)]
    video[clicks] = shown_video[clicked]
    user[clicks] = np.repeat(row_user, ROW)[clicked]
    age_s[clicks] = np.repeat(row_age, ROW)[clicked] - 5  # clicked 5 s after it was shown
    ts = _ago(age_s)
    duration = (rng.lognormal(np.log(600_000), 0.6, size=n)).astype(np.int64)
    position = (duration * rng.random(n)).astype(np.int64)
    columns = {
        name: pa.nulls(n, type=field.type)
        for name, field in zip(arrow_schema("events").names, arrow_schema("events"), strict=True)
    }
    columns.update(
        {
            "event_id": pa.array(_ids(rng, n)),
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
    click_imp = np.full(n, None, dtype=object)
    click_imp[clicks] = np.array(impression_ids, dtype=object)[clicked]
    click_slot = np.zeros(n, dtype=np.int64)
    click_slot[clicks] = slot[clicked]
    click_surface = np.full(n, None, dtype=object)
    click_surface[clicks] = np.repeat(row_surface, ROW)[clicked]
    is_click = np.zeros(n, dtype=bool)
    is_click[clicks] = True
    columns.update(
        {
            "impression_id": pa.array(click_imp, type=pa.string()),
            "surface": pa.array(click_surface, type=pa.string()),
            "slot": pa.array(np.where(is_click, click_slot, None), type=pa.int64()),
            "rank": pa.array(np.where(is_click, click_slot, None), type=pa.int64()),
        }
    )
    events = pa.table(columns, schema=arrow_schema("events"))
    shown_ts = pa.array(np.repeat(_ago(row_age), ROW), type=pa.timestamp("us", tz="UTC"))
    impression_columns = {
        name: pa.nulls(shown_n, type=field.type)
        for name, field in zip(arrow_schema("impressions").names, arrow_schema("impressions"), strict=True)
    }
    impression_columns.update(
        {
            "event_id": pa.array(np.repeat(np.array(_ids(rng, rows_n), dtype=object), ROW), type=pa.string()),
            "impression_id": pa.array(impression_ids),
            "schema_version": pa.array(["1.3"] * shown_n),
            "event_ts": shown_ts,
            "client_event_ts": shown_ts,
            "processed_at": shown_ts,
            "user_id": pa.array([f"u{u}" for u in np.repeat(row_user, ROW)]),
            "device_id": pa.array([f"d{u}" for u in np.repeat(row_user, ROW)]),
            "request_id": pa.array([f"r{r}" for r in np.repeat(np.arange(rows_n), ROW)]),
            "surface": pa.array(np.repeat(row_surface, ROW)),
            "experiment_ids": pa.array([[]] * shown_n, type=pa.list_(pa.string())),
            "video_id": pa.array([f"vid-{v:06d}" for v in shown_video]),
            "slot": pa.array(slot),
            "rank": pa.array(slot),
            "items_shown": pa.array(np.full(shown_n, ROW)),
            "catalog_hit": pa.array(np.ones(shown_n, dtype=bool)),
        }
    )
    impressions = pa.table(impression_columns, schema=arrow_schema("impressions"))
    start = _ago(session_age)
    end = _ago(session_age - SESSION_S)
    videos = rng.choice(500, size=(sessions_n, 4), p=popularity / popularity.sum())
    session_rows = {
        "session_id": [uuid.uuid4().hex for _ in range(sessions_n)],
        "user_id": [f"u{u}" for u in session_user],
        "session_start": start,
        "session_end": end,
        "window_end": end,
        "emitted_at": end,
        "duration_s": np.full(sessions_n, float(SESSION_S)),
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
        {k: pa.array(v, type=arrow_schema("sessions").field(k).type) for k, v in session_rows.items()},
        schema=arrow_schema("sessions"),
    )
    return events, sessions, impressions


def main(argv: list[str] | None = None, base: Settings | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    args = parser.parse_args(argv)
    base = base or resolve_endpoints(Settings.from_env())
    results = []
    for n in args.sizes:
        with warehouse(base, "bench_signals") as settings:
            client = bigquery_client(settings)
            events, sessions, impressions = generate(n)
            started = time.perf_counter()
            load(client, settings.table_id("events"), events)
            load(client, settings.table_id("sessions"), sessions)
            load(client, settings.table_id("impressions"), impressions)
            loaded = time.perf_counter() - started
            started = time.perf_counter()
            written = run_signals(client, settings, SignalParams(as_of=AS_OF))
            results.append((n, impressions.num_rows, loaded, time.perf_counter() - started, written))
    rows = [
        (
            f"{n:,}",
            f"{shown:,}",
            f"{load_s:.1f}",
            f"{job_s:.1f}",
            f"{n / job_s:,.0f}",
            ", ".join(f"{k.split('_')[-1]}={v}" for k, v in written.items()),
        )
        for n, shown, load_s, job_s, written in results
    ]
    print(
        table(
            f"signal job on the local BigQuery stand-in ({machine()})",
            rows,
            ("events", "impressions", "load s", "job s", "events/s", "rows written"),
        )
    )
    figures = {f"signals_s_{n}": job_s for n, _, _, job_s, _ in results}
    if len(results) > 1:
        (n0, _, _, t0, _), (n1, _, _, t1, _) = results[0], results[-1]
        growth, time_growth = n1 / n0, t1 / t0
        verdict = "met" if time_growth <= 1.2 * growth else "NOT met"
        print(
            f"growth: {growth:.0f}x the events and impressions took {time_growth:.1f}x the time "
            f"(linear goal: <= {1.2 * growth:.0f}x: {verdict}); peak memory {peak_rss_mb():.0f} MB"
        )
        figures["signals_time_growth"] = time_growth
    return figures


if __name__ == "__main__":
    main()
