"""Session maths: a mergeable accumulator over a user's events, and the session row.

Beam's ``Sessions`` windows decide which events belong together; these functions
decide what a session *says*. The accumulator is a plain dict so a CombineFn can
merge partial results in any order (commutative and associative).
"""

from __future__ import annotations

import hashlib
from typing import Any

from pipelines.timefmt import iso

# What the sessionizer needs of an event, as a compact tuple (cheap to shuffle):
# (event_ts_ms, event_type, video_id, watch_ratio, surface, slot, rank, device_id)
SessionEvent = tuple[int, str, str, float | None, str | None, int | None, int | None, str]


def counts_in_sessions(event: dict[str, Any]) -> bool:
    """Bots (``is_bot``, set by enrichment) make no sessions: their events stay in ``events``,
    but a crawler's "session" would skew every engagement figure the sessions table feeds."""
    return not event.get("is_bot")


def session_event(event: dict[str, Any], event_ts_ms: int) -> SessionEvent:
    return (
        event_ts_ms,
        event["event_type"],
        event["video_id"],
        event.get("watch_ratio"),
        event.get("surface"),
        event.get("slot"),
        event.get("rank"),
        event["device_id"],
    )


def session_id(user_id: str, window_start_ms: int) -> str:
    """Deterministic: the same user and window start give the same id in streaming and replay."""
    digest = hashlib.sha256(f"{user_id}|{window_start_ms}".encode()).hexdigest()
    return digest[:32]


def empty() -> dict[str, Any]:
    return {
        "start": None,
        "end": None,
        "count": 0,
        "paused": 0,
        "clicked": 0,
        "videos": {},
        "clicks": [],
        "devices": set(),
    }


def add(acc: dict[str, Any], event: SessionEvent) -> dict[str, Any]:
    ts, event_type, video_id, ratio, surface, slot, rank, device_id = event
    acc["start"] = ts if acc["start"] is None else min(acc["start"], ts)
    acc["end"] = ts if acc["end"] is None else max(acc["end"], ts)
    acc["count"] += 1
    acc["devices"].add(device_id)
    if event_type == "VideoPaused":
        acc["paused"] += 1
        pauses, best = acc["videos"].get(video_id, (0, None))
        if ratio is not None:
            best = ratio if best is None else max(best, ratio)
        acc["videos"][video_id] = (pauses + 1, best)
    else:
        acc["clicked"] += 1
        acc["clicks"].append((ts, video_id, surface, slot, rank))
    return acc


def merge(accs: list[dict[str, Any]]) -> dict[str, Any]:
    out = empty()
    for acc in accs:
        if acc["count"] == 0:
            continue
        out["start"] = acc["start"] if out["start"] is None else min(out["start"], acc["start"])
        out["end"] = acc["end"] if out["end"] is None else max(out["end"], acc["end"])
        out["count"] += acc["count"]
        out["paused"] += acc["paused"]
        out["clicked"] += acc["clicked"]
        out["devices"] |= acc["devices"]
        out["clicks"].extend(acc["clicks"])
        for video_id, (pauses, best) in acc["videos"].items():
            have_pauses, have_best = out["videos"].get(video_id, (0, None))
            merged_best = best if have_best is None else (have_best if best is None else max(best, have_best))
            out["videos"][video_id] = (have_pauses + pauses, merged_best)
    return out


def to_row(
    user_id: str,
    acc: dict[str, Any],
    window_start_ms: int,
    window_end_ms: int,
    pane_timing: str,
    pane_index: int,
    is_final: bool,
    emitted_at_ms: int,
) -> dict[str, Any]:
    """The ``sessions`` row for one firing of a session window."""
    return {
        "session_id": session_id(user_id, window_start_ms),
        "user_id": user_id,
        "session_start": iso(acc["start"]),
        "session_end": iso(acc["end"]),
        "window_end": iso(window_end_ms),
        "duration_s": (acc["end"] - acc["start"]) / 1000,
        "event_count": acc["count"],
        "video_paused_count": acc["paused"],
        "thumbnail_clicked_count": acc["clicked"],
        "videos_paused": [
            {"video_id": v, "pauses": pauses, "max_watch_ratio": best}
            for v, (pauses, best) in sorted(acc["videos"].items())
        ],
        "thumbnails_clicked": [
            {"video_id": v, "surface": s, "slot": slot, "rank": rank, "event_ts": iso(ts)}
            for ts, v, s, slot, rank in sorted(acc["clicks"], key=lambda c: (c[0], c[1]))
        ],
        "devices": sorted(acc["devices"]),
        "pane_timing": pane_timing,
        "pane_index": pane_index,
        "is_final": is_final,
        "emitted_at": iso(emitted_at_ms),
    }


def split_sessions(events: list[SessionEvent], gap_ms: int) -> list[list[SessionEvent]]:
    """Cut one user's events into sessions exactly as Beam's ``Sessions(gap)`` merges windows.

    Each event opens the window [t, t + gap); windows that overlap merge, so a new session
    starts where the next event is ``gap`` or more after the previous one.
    """
    ordered = sorted(events, key=lambda e: e[0])
    sessions: list[list[SessionEvent]] = []
    for event in ordered:
        if sessions and event[0] - sessions[-1][-1][0] < gap_ms:
            sessions[-1].append(event)
        else:
            sessions.append([event])
    return sessions


def final_rows(user_id: str, events: list[SessionEvent], gap_ms: int, emitted_at_ms: int) -> list[dict[str, Any]]:
    """All of one user's events at once (a batch run) -> one final, on-time row per session:
    what Beam's ``Sessions(gap)`` fires once the input is complete."""
    rows = []
    for session in split_sessions(events, gap_ms):
        acc = empty()
        for event in session:
            add(acc, event)
        rows.append(to_row(user_id, acc, acc["start"], acc["end"] + gap_ms, "ON_TIME", 0, True, emitted_at_ms))
    return rows
