"""Synthetic videos: a realistic, deterministic library shared by the simulator and the local warehouse.

"Catalog" names one thing in this project: the ``video_catalog`` table and the pipeline's side
input read from it. This module generates the synthetic videos the local stack seeds that
table with, and the simulator picks video ids from the same generator,
so enrichment hits locally exactly as it would in production; ids beyond
``size`` play "fresh uploads" the catalog has not caught up with yet.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

CATEGORIES = (
    "music",
    "gaming",
    "news",
    "education",
    "comedy",
    "sports",
    "science",
    "cooking",
    "travel",
    "film",
)
_ADJECTIVES = (
    "Ultimate",
    "Quiet",
    "Hidden",
    "Epic",
    "Tiny",
    "Honest",
    "Perfect",
    "Midnight",
    "Broken",
    "Golden",
    "Wild",
    "Simple",
    "Lost",
    "Secret",
    "Daily",
)
_NOUNS = (
    "Guide",
    "Journey",
    "Review",
    "Kitchen",
    "Mix",
    "Highlights",
    "Experiment",
    "Story",
    "Tour",
    "Session",
    "Challenge",
    "Lecture",
    "Walkthrough",
    "Live Set",
    "Recap",
)
# Typical length by category (median minutes): music is short, lectures and film long.
_MEDIAN_MINUTES = {
    "music": 4,
    "gaming": 22,
    "news": 6,
    "education": 18,
    "comedy": 9,
    "sports": 11,
    "science": 15,
    "cooking": 12,
    "travel": 14,
    "film": 95,
}
_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Video:
    video_id: str
    title: str
    category: str
    duration_ms: int
    creator_id: str
    published_at: datetime
    updated_at: datetime

    def to_row(self) -> dict[str, object]:
        row = asdict(self)
        row["published_at"] = self.published_at.isoformat()
        row["updated_at"] = self.updated_at.isoformat()
        return row


def video_id(index: int) -> str:
    return f"vid-{index:06d}"


@cache
def generate_videos(size: int = 500, seed: int = 7) -> tuple[Video, ...]:
    rng = random.Random(seed)
    creators = [f"creator-{i:04d}" for i in range(max(1, size // 8))]
    videos = []
    for index in range(size):
        category = rng.choice(CATEGORIES)
        median_s = _MEDIAN_MINUTES[category] * 60
        # Log-normal lengths, clamped to 15 s .. 4 h.
        duration_s = min(4 * 3600, max(15, int(rng.lognormvariate(math.log(median_s), 0.6))))
        published = _EPOCH + timedelta(minutes=rng.randrange(0, 60 * 24 * 900))
        videos.append(
            Video(
                video_id=video_id(index),
                title=f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)} #{index}",
                category=category,
                duration_ms=duration_s * 1000,
                creator_id=rng.choice(creators),
                published_at=published,
                updated_at=published + timedelta(hours=rng.randrange(0, 72)),
            )
        )
    return tuple(videos)
