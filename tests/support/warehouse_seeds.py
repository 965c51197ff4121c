"""dbt-style seeds for the warehouse tests: rows written straight into a fresh dataset."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from clickstream.core.bigquery_clients import bigquery_client
from clickstream.core.config import Settings
from clickstream.core.synthetic_videos import generate_videos
from clickstream.core.tables import ensure_dataset_and_tables, ensure_views

AS_OF = datetime(2026, 3, 1, tzinfo=UTC)


def ts(days_before: float = 0, seconds_after: float = 0) -> str:
    return (AS_OF - timedelta(days=days_before) + timedelta(seconds=seconds_after)).isoformat()


def fresh_dataset(stack: Settings) -> Settings:
    settings = replace(stack, dataset=f"wh_{uuid.uuid4().hex[:10]}")
    client = bigquery_client(settings)
    ensure_dataset_and_tables(client, settings.project, settings.dataset)
    ensure_views(client, settings.project, settings.dataset)
    return settings


def event(
    user: str,
    video: str,
    kind: str,
    at: str,
    *,
    event_id: str | None = None,
    position_ms: int | None = None,
    duration_ms: int | None = None,
    processed_at: str | None = None,
) -> dict:
    return {
        "event_id": event_id or str(uuid.uuid4()),
        "event_type": kind,
        "schema_version": "1.1",
        "event_ts": at,
        "client_event_ts": at,
        "sent_at": at,
        "publish_time": at,
        "clock_skew_ms": 0,
        "skew_corrected": False,
        "user_id": user,
        "device_id": f"d-{user}",
        "platform": "web",
        "app_version": "6.1.0",
        "user_agent": "ua",
        "locale": None,
        "device_family": None,
        "os_family": None,
        "browser_family": None,
        "video_id": video,
        "position_ms": position_ms,
        "video_duration_ms": duration_ms,
        "playback_rate": None,
        "watch_ratio": None,
        "impression_id": "imp" if kind == "ThumbnailClicked" else None,
        "surface": "home" if kind == "ThumbnailClicked" else None,
        "slot": 1 if kind == "ThumbnailClicked" else None,
        "rank": 1 if kind == "ThumbnailClicked" else None,
        "recommendation_request_id": None,
        "thumbnail_variant": None,
        "catalog_hit": True,
        "video_title": None,
        "video_category": None,
        "video_creator_id": None,
        "message_id": "m",
        "processed_at": processed_at or at,
    }


def session(user: str, start: str, paused: list[str], clicked: list[str], *, session_id: str | None = None) -> dict:
    return {
        "session_id": session_id or uuid.uuid4().hex,
        "user_id": user,
        "session_start": start,
        "session_end": start,
        "window_end": start,
        "duration_s": 0.0,
        "event_count": len(paused) + len(clicked),
        "video_paused_count": len(paused),
        "thumbnail_clicked_count": len(clicked),
        "videos_paused": [{"video_id": v, "pauses": 1, "max_watch_ratio": 0.5} for v in paused],
        "thumbnails_clicked": [
            {"video_id": v, "surface": "home", "slot": 1, "rank": 1, "event_ts": start} for v in clicked
        ],
        "devices": ["d"],
        "pane_timing": "ON_TIME",
        "pane_index": 0,
        "is_final": True,
        "emitted_at": start,
    }


def visit(user: str, events: list[tuple[str, str, str]], *, session_id: str | None = None) -> tuple[dict, list[dict]]:
    """A final session of ``user`` and the events it was made of: ``(video, kind, at)`` each. The
    session spans its first to its last event, as the pipeline's session windows do; the signal job
    reads its video set from the events (only those inside the lookback window)."""
    times = sorted(at for _, _, at in events)
    row = session(
        user,
        times[0],
        [v for v, kind, _ in events if kind == "VideoPaused"],
        [v for v, kind, _ in events if kind == "ThumbnailClicked"],
        session_id=session_id,
    )
    row["session_end"] = row["window_end"] = row["emitted_at"] = times[-1]
    return row, [event(user, video, kind, at) for video, kind, at in events]


def load_visits(settings: Settings, visits: list[tuple[dict, list[dict]]]) -> None:
    """Sessions and their events into a dataset (see ``visit``)."""
    load(settings, "sessions", [row for row, _ in visits])
    load(settings, "events", [e for _, events in visits for e in events])


def impression(
    user: str,
    video: str,
    surface: str,
    slot: int,
    at: str,
    *,
    rank: int | None = None,
    swapped_rank: int | None = None,
    is_bot: bool = False,
) -> dict:
    """An ``impressions`` row (one thumbnail shown); ``swapped_rank``: the row was explored by swap_first."""
    return {
        "event_id": str(uuid.uuid4()),
        "impression_id": str(uuid.uuid4()),
        "schema_version": "1.3",
        "event_ts": at,
        "client_event_ts": at,
        "publish_time": at,
        "user_id": user,
        "device_id": f"d-{user}",
        "request_id": "r",
        "surface": surface,
        "experiment_ids": [],
        "exploration_method": "swap_first" if swapped_rank else None,
        "exploration_swapped_rank": swapped_rank,
        "exploration_propensity": 0.1 if swapped_rank else None,
        "video_id": video,
        "slot": slot,
        "rank": rank or slot,
        "items_shown": 12,
        "catalog_hit": True,
        "message_id": "m",
        "processed_at": at,
        "is_bot": is_bot,
    }


def click_on(shown: dict, at: str | None = None) -> dict:
    """The ThumbnailClicked event of an impression (same viewer, video, slot and impression_id)."""
    row = event(shown["user_id"], shown["video_id"], "ThumbnailClicked", at or shown["event_ts"])
    row.update(impression_id=shown["impression_id"], surface=shown["surface"], slot=shown["slot"], rank=shown["rank"])
    if shown.get("is_bot"):
        row.update(is_bot=True, bot_reason="crawler_list")
    return row


def catalog_row(video: str, duration_ms: int | None) -> dict:
    return {
        "video_id": video,
        "title": video,
        "category": "film",
        "duration_ms": duration_ms,
        "creator_id": "c",
        "published_at": ts(100),
        "updated_at": ts(100),
    }


def load(settings: Settings, table: str, rows: list[dict]) -> None:
    errors = bigquery_client(settings).insert_rows_json(settings.table_id(table), rows)
    assert errors == [], errors


def write_catalog(path: Path, videos: int) -> Path:
    """The generated video library as the JSON-lines file ``--catalog_path`` reads."""
    path.write_text("\n".join(json.dumps(v.to_row()) for v in generate_videos(videos)) + "\n")
    return path


def cli_env(settings: Settings) -> dict[str, str]:
    """The environment a ``clickstream`` command needs to reach ``settings``' stack and dataset."""
    return {
        "CLICKSTREAM_BIGQUERY_ENDPOINT": settings.bigquery_endpoint,
        "CLICKSTREAM_DATASET": settings.dataset,
        "PUBSUB_EMULATOR_HOST": settings.pubsub_emulator_host,
        "CLICKSTREAM_PSEUDONYM_KEY": settings.pseudonym_key,
    }
