"""Shared inputs for the benchmarks: simulated traffic as pre-encoded Pub/Sub messages."""

from __future__ import annotations

import itertools
import json
import platform
import resource
from pathlib import Path

from clickstream.core.synthetic_videos import generate_videos
from emitters.events import encode_event
from emitters.simulator import Simulator, TrafficProfile
from pipelines.archive import to_json_line
from pipelines.messages import RawMessage

START_MS = 1_767_225_600_000


def messages(n: int, seed: int = 1, **knobs: float) -> list[RawMessage]:
    profile = TrafficProfile(rate=200, session_gap_s=60, seed=seed, **knobs)
    out = []
    for i, emission in enumerate(itertools.islice(Simulator(profile, START_MS).emissions(), n)):
        event = emission.event
        publish_ms = START_MS + int(emission.due_s * 1000) + 40
        out.append(RawMessage(encode_event(event), event.attributes(), f"m-{i}", publish_ms))
    return out


def write_archive(path: Path, msgs: list[RawMessage]) -> Path:
    path.write_text("\n".join(to_json_line(m) for m in msgs) + "\n")
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
