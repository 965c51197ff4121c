"""A simulated log as warehouse rows: the simulator run in-process, its events turned into the
``events``, ``impressions`` and ``sessions`` rows the pipeline would write, loaded as Parquet.

Replaying a million impressions through the Beam pipeline would take longer than everything it
measures; the signal job reads only the warehouse, so the benchmarks load its tables directly (as
``bench.signals`` does). What the pipeline would do is kept to what the signal job sees: user ids
replaced by their pseudonyms (a key made for the run), sessions cut at the simulator's gap, the
simulator's clean traffic (no duplicates, invalid, late or skewed events, no bots, every viewer
consented) so that what is measured is the recovery of the truth and nothing else.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import pyarrow as pa
from google.cloud import bigquery

from bench.common import START_MS, arrow_schema, load
from clickstream.core.config import Settings
from clickstream.core.synthetic_videos import generate_videos
from emitters.events import Event, ThumbnailClicked, ThumbnailsShown, VideoPaused
from emitters.ground_truth import GroundTruth
from emitters.simulator import Simulator, TrafficProfile


def utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


SCHEMA_VERSION = "1.3"


@dataclass
class _Session:
    user_id: str
    start_us: int
    end_us: int
    events: int = 0
    paused: dict[str, list] = field(default_factory=dict)  # video -> [pauses, max_watch_ratio]
    clicked: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class SimulatedLog:
    events: pa.Table
    impressions: pa.Table
    sessions: pa.Table
    catalog: pa.Table
    truth: GroundTruth
    start: datetime
    end: datetime  # the last event's time

    def load_into(self, client: bigquery.Client, settings: Settings) -> None:
        load(client, settings.table_id("events"), self.events)
        load(client, settings.table_id("impressions"), self.impressions)
        load(client, settings.table_id("sessions"), self.sessions)
        load(client, settings.table_id("video_catalog"), self.catalog)


def clean_profile(seed: int, exploration: float, viewers: int | None = None, rate: float = 200.0) -> TrafficProfile:
    return TrafficProfile(
        rate=rate,
        viewers=viewers,
        session_gap_s=60,
        seed=seed,
        exploration=exploration,
        unknown_video_share=0.0,
        analytics_denied=0.0,
        personalization_denied=0.0,
        no_consent=0.0,
        bots=0.0,
    )


# Thumbnails shown per simulated second, per event/s of ``rate``: a quarter of the events are rows of
# 12 thumbnails (measured on the clean profile: 0.27 x 12 = 3.2); a log is sized with it.
IMPRESSIONS_PER_EVENT = 0.27 * 12
# Margin over that estimate, so a log has at least the impressions asked for.
_MARGIN = 1.05


def simulated_seconds(impressions: int, profile: TrafficProfile) -> float:
    """The simulated time in which the simulator shows about ``impressions`` thumbnails (a bit more)."""
    return _MARGIN * impressions / (profile.rate * IMPRESSIONS_PER_EVENT)


def simulate(
    impressions: int, profile: TrafficProfile, pseudonym: Callable[[str], str] = str, events: int | None = None
) -> SimulatedLog:
    """Run the simulator for the simulated time in which it shows about ``impressions`` thumbnails
    (``simulated_seconds``; or until it has emitted ``events`` events), then let the rows rendered
    by then play out: a log cut at a count would lose the later clicks of the rows still on
    screen, more of them the deeper the slot, and bias every estimate of theta_k low."""
    simulator = Simulator(profile, START_MS)
    event_rows: list[dict] = []
    impression_rows: list[dict] = []
    sessions: list[_Session] = []
    open_sessions: dict[str, _Session] = {}
    gap_us = int(profile.session_gap_s * 1e6)
    shown = 0
    names: dict[str, str] = {}
    first_ms, last_ms = None, START_MS
    until_s = simulated_seconds(impressions, profile)
    for emitted, emission in enumerate(simulator.emissions(until_s=until_s), start=1):
        event: Event = emission.event
        user = names.get(event.user_id) or names.setdefault(event.user_id, pseudonym(event.user_id))
        ts_us = event.event_ts_ms * 1000
        first_ms = event.event_ts_ms if first_ms is None else min(first_ms, event.event_ts_ms)
        last_ms = max(last_ms, event.event_ts_ms)
        common = {
            "event_id": event.event_id,
            "schema_version": SCHEMA_VERSION,
            "event_ts": ts_us,
            "client_event_ts": ts_us,
            "user_id": user,
            "device_id": event.device_id,
            "platform": event.client.platform,
            "catalog_hit": True,
            "processed_at": ts_us,
            "consent_analytics": True,
            "consent_personalization": True,
            "is_bot": False,
        }
        payload = event.payload
        if isinstance(payload, ThumbnailsShown):
            explored = payload.exploration
            for item in payload.items:
                impression_rows.append(
                    common
                    | {
                        "impression_id": item.impression_id,
                        "request_id": payload.request_id,
                        "surface": payload.surface,
                        "model_version": payload.model_version,
                        "experiment_ids": list(payload.experiment_ids),
                        "exploration_method": explored.method if explored else None,
                        "exploration_swapped_rank": explored.swapped_rank if explored else None,
                        "exploration_propensity": explored.propensity if explored else None,
                        "video_id": item.video_id,
                        "slot": item.slot,
                        "rank": item.rank,
                        "grid_row": item.row,
                        "grid_col": item.col,
                        "visible_ms": item.visible_ms,
                        "items_shown": len(payload.items),
                    }
                )
            shown += len(payload.items)
        else:
            session = open_sessions.get(user)
            if session is None or ts_us - session.end_us > gap_us:
                session = open_sessions[user] = _Session(user, ts_us, ts_us)
                sessions.append(session)
            session.end_us = max(session.end_us, ts_us)
            session.events += 1
            row = common | {"event_type": event.event_type, "sent_at": ts_us, "skew_corrected": False}
            if isinstance(payload, ThumbnailClicked):
                row |= {
                    "video_id": payload.video_id,
                    "impression_id": payload.impression_id,
                    "surface": payload.surface,
                    "slot": payload.slot,
                    "rank": payload.rank,
                    "recommendation_request_id": payload.recommendation_request_id,
                }
                session.clicked.append(
                    {
                        "video_id": payload.video_id,
                        "surface": payload.surface,
                        "slot": payload.slot,
                        "rank": payload.rank,
                        "event_ts": ts_us,
                    }
                )
            elif isinstance(payload, VideoPaused):
                ratio = payload.position_ms / payload.video_duration_ms if payload.video_duration_ms else None
                row |= {
                    "video_id": payload.video_id,
                    "position_ms": payload.position_ms,
                    "video_duration_ms": payload.video_duration_ms,
                    "playback_rate": payload.playback_rate,
                    "watch_ratio": ratio,
                }
                seen = session.paused.setdefault(payload.video_id, [0, 0.0])
                seen[0] += 1
                seen[1] = max(seen[1], min(1.0, ratio or 0.0))
            event_rows.append(row)
        if events is not None and emitted >= events:
            break
    return SimulatedLog(
        events=pa.Table.from_pylist(event_rows, schema=arrow_schema("events")),
        impressions=pa.Table.from_pylist(impression_rows, schema=arrow_schema("impressions")),
        sessions=_sessions_table(sessions),
        catalog=pa.Table.from_pylist(
            [asdict(video) for video in generate_videos(profile.catalog_size)], schema=arrow_schema("video_catalog")
        ),
        truth=simulator.truth(),
        start=utc(first_ms or START_MS),
        end=utc(last_ms),
    )


def _sessions_table(sessions: list[_Session]) -> pa.Table:
    rows = [
        {
            "session_id": f"s-{i}",
            "user_id": s.user_id,
            "session_start": s.start_us,
            "session_end": s.end_us,
            "window_end": s.end_us,
            "emitted_at": s.end_us,
            "duration_s": (s.end_us - s.start_us) / 1e6,
            "event_count": s.events,
            "video_paused_count": sum(p[0] for p in s.paused.values()),
            "thumbnail_clicked_count": len(s.clicked),
            "videos_paused": [
                {"video_id": v, "pauses": p[0], "max_watch_ratio": p[1]} for v, p in sorted(s.paused.items())
            ],
            "thumbnails_clicked": s.clicked,
            "devices": [],
            "pane_timing": "ON_TIME",
            "pane_index": 0,
            "is_final": True,
        }
        for i, s in enumerate(sessions)
    ]
    return pa.Table.from_pylist(rows, schema=arrow_schema("sessions"))


def counts(log: SimulatedLog) -> dict[str, int]:
    by_type: dict[str, int] = defaultdict(int)
    for kind in log.events.column("event_type").to_pylist():
        by_type[kind] += 1
    return {"impressions": log.impressions.num_rows, "sessions": log.sessions.num_rows, **by_type}
