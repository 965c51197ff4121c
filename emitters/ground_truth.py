"""The simulator's ground truth: the click model the signal job has to recover.

The simulator plays the position-based click model (PBM; Richardson et al. 2007, Joachims et al.
WSDM 2017): a thumbnail shown at slot ``k`` of a row on ``surface`` is *examined* with probability
``theta[surface][k]`` (it depends only on where it is), and an examined thumbnail is *clicked*
with probability ``gamma(viewer, video)`` (it depends only on who looks at what)::

    P(click) = theta[surface][k] * gamma(viewer, video)

The two factors are what the warehouse estimates (``position_propensity`` by EM, ``video_ctr``
debiased by ``theta``), so this module writes them to a file (``GroundTruth.write``) that tests,
the benchmark and ``clickstream signals evaluate --truth`` compare against.

* ``theta``: ``ExaminationCurve`` per surface, ``theta_k = top * k ** -decay`` (``top`` < 1: even
  slot 1 is sometimes scrolled past). Search and home are steep (viewers read the first results),
  up next is flat (a short list beside the player).
* ``gamma(u, v) = appeal(v) * affinity(u, category(v))`` where ``appeal`` in (0, 1) is the video's
  click probability for a viewer whose favourite category it is, and
  ``affinity(u, c) = floor + (1 - floor) * taste(u, c) / max_c' taste(u, c')`` in [floor, 1]: a
  viewer's favourite category has affinity 1, one they care nothing for ``floor``. So gamma is in
  (0, 1). ``taste(u, .)`` are weights over the categories (a sparse Dirichlet draw: most people
  like two or three categories).
* ``attractiveness(v)`` is the population mean of ``gamma(u, v)`` over the viewers: the video's
  click-through rate at an always-examined slot, which a debiased CTR estimates.

Pure Python with no dependencies beyond the standard library: the emitter library must not need
numpy (or Beam).
"""

from __future__ import annotations

import heapq
import json
import math
import os
import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

SLOTS = 12  # thumbnails in a rendered row
FORMAT = "clickstream-ground-truth"
FORMAT_VERSION = 1
# An examined thumbnail of a category the viewer does not care for is still clicked this often,
# relative to their favourite category.
TASTE_FLOOR = 0.3
# Dirichlet concentration of a viewer's tastes: below 1 most weight sits on a few categories.
TASTE_CONCENTRATION = 0.3
# appeal = APPEAL_LOW + APPEAL_SPAN * Beta(2, 2): mean 0.5, from 0.1 to 0.9.
APPEAL_LOW, APPEAL_SPAN = 0.1, 0.8


@dataclass(frozen=True)
class ExaminationCurve:
    """How likely a viewer looks at slot k of a row: ``theta_k = top * k ** -decay``."""

    top: float  # theta_1, in (0, 1]
    decay: float  # >= 0; 0 is a flat curve (every slot examined alike)

    def __post_init__(self) -> None:
        if not 0.0 < self.top <= 1.0:
            raise ValueError(f"an examination curve's top (theta_1) must be in (0, 1], got {self.top}")
        if not (math.isfinite(self.decay) and self.decay >= 0.0):
            raise ValueError(f"an examination curve's decay must be >= 0, got {self.decay}")

    def thetas(self, slots: int = SLOTS) -> tuple[float, ...]:
        return tuple(self.top * k**-self.decay for k in range(1, slots + 1))


# The default curves (theta_1 .. theta_12 in docs/simulator.md). Every surface the simulator
# renders rows on needs one.
DEFAULT_EXAMINATION: Mapping[str, ExaminationCurve] = {
    "home": ExaminationCurve(top=0.95, decay=0.8),
    "search": ExaminationCurve(top=0.98, decay=1.0),
    "up_next": ExaminationCurve(top=0.9, decay=0.4),
    "channel": ExaminationCurve(top=0.85, decay=0.6),
    "notifications": ExaminationCurve(top=0.9, decay=0.9),
}


def draw_tastes(rng: random.Random, categories: int) -> tuple[float, ...]:
    """A viewer's weights over the categories: symmetric Dirichlet(``TASTE_CONCENTRATION``),
    rounded so that the file and the simulation use the very same numbers."""
    raw = [rng.gammavariate(TASTE_CONCENTRATION, 1.0) for _ in range(categories)]
    total = sum(raw)
    if total <= 0.0:  # every draw underflowed: a viewer with no preference
        return tuple(round(1.0 / categories, 6) for _ in range(categories))
    return tuple(round(x / total, 6) for x in raw)


def draw_appeal(rng: random.Random) -> float:
    """A video's appeal: P(click | examined) for a viewer whose favourite category it is."""
    return round(APPEAL_LOW + APPEAL_SPAN * rng.betavariate(2.0, 2.0), 6)


def affinities(tastes: Sequence[float], floor: float = TASTE_FLOOR) -> tuple[float, ...]:
    """``affinity(u, c)`` for every category c: in [floor, 1], 1 for the favourite."""
    top = max(tastes)
    if top <= 0.0:
        return tuple(1.0 for _ in tastes)
    return tuple(floor + (1.0 - floor) * w / top for w in tastes)


def click_probability(appeal: float, affinity: float) -> float:
    """gamma: P(click | examined) of a video of ``appeal`` for a viewer of ``affinity`` for its category.
    The simulator draws its clicks with this very function."""
    return appeal * affinity


@dataclass(frozen=True)
class GroundTruth:
    """The click model a simulated log was played from (see the module docstring)."""

    theta: dict[str, tuple[float, ...]]  # per surface: examination probability of slot 1..12
    categories: tuple[str, ...]
    video_category: dict[str, int]  # video_id -> category index
    video_appeal: dict[str, float]  # video_id -> base attractiveness (appeal)
    viewer_tastes: dict[str, tuple[float, ...]]  # RAW user_id -> weights over categories
    taste_floor: float = TASTE_FLOOR
    _affinity_cache: dict[str, tuple[float, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        self._check()

    # -- the model ------------------------------------------------------------------------
    def examination(self, surface: str, slot: int) -> float:
        """theta_slot on ``surface`` (slots count from 1)."""
        curve = self.theta.get(surface)
        if curve is None:
            raise KeyError(f"no examination curve for surface {surface!r}; known: {sorted(self.theta)}")
        if not 1 <= slot <= len(curve):
            raise ValueError(f"slot must be in 1..{len(curve)}, got {slot}")
        return curve[slot - 1]

    def affinity(self, user_id: str) -> tuple[float, ...]:
        cached = self._affinity_cache.get(user_id)
        if cached is None:
            tastes = self.viewer_tastes.get(user_id)
            if tastes is None:
                raise KeyError(f"the ground truth knows no viewer {user_id!r} (raw user ids, not pseudonyms)")
            cached = self._affinity_cache[user_id] = affinities(tastes, self.taste_floor)
        return cached

    def _video(self, video_id: str) -> tuple[float, int]:
        appeal = self.video_appeal.get(video_id)
        if appeal is None:
            raise KeyError(f"the ground truth knows no video {video_id!r}")
        return appeal, self.video_category[video_id]

    def gamma(self, user_id: str, video_id: str) -> float:
        """P(click | examined): ``appeal(video) * affinity(user, category(video))``, in (0, 1)."""
        appeal, category = self._video(video_id)
        return click_probability(appeal, self.affinity(user_id)[category])

    @cached_property
    def _mean_affinity(self) -> tuple[float, ...]:
        if not self.viewer_tastes:
            raise ValueError("the ground truth has no viewers: attractiveness is a mean over viewers")
        rows = [self.affinity(user) for user in self.viewer_tastes]
        return tuple(math.fsum(row[c] for row in rows) / len(rows) for c in range(len(self.categories)))

    def attractiveness(self, video_id: str) -> float:
        """The population mean of ``gamma(u, video)`` over the viewers: its CTR at an always-examined slot."""
        appeal, category = self._video(video_id)
        return appeal * self._mean_affinity[category]

    @cached_property
    def _by_category(self) -> tuple[tuple[tuple[float, str], ...], ...]:
        """Each category's videos by appeal, best first (ties by id): gamma is monotone in appeal
        within a category, so a viewer's best videos are a merge of these lists."""
        lists: list[list[tuple[float, str]]] = [[] for _ in self.categories]
        for video, appeal in self.video_appeal.items():
            lists[self.video_category[video]].append((-appeal, video))
        return tuple(tuple(sorted(videos)) for videos in lists)

    def top_preferences(self, user_id: str, n: int, exclude: Iterable[str] = ()) -> list[str]:
        """The ``n`` videos this viewer is likeliest to click when examined (highest gamma, ties by
        video id), leaving out ``exclude`` (e.g. what they already watched)."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        affinity, skip = self.affinity(user_id), set(exclude)

        def scored(videos: tuple[tuple[float, str], ...], weight: float) -> Iterator[tuple[float, str]]:
            return ((neg * weight, video) for neg, video in videos)

        merged = heapq.merge(*(scored(videos, affinity[c]) for c, videos in enumerate(self._by_category)))
        picked: list[str] = []
        for _, video in merged:
            if len(picked) >= n:
                break
            if video not in skip:
                picked.append(video)
        return picked

    # -- the file -------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "model": "position-based: P(click) = theta[surface][slot] * gamma(user, video); "
            "gamma = appeal(video) * (taste_floor + (1 - taste_floor) * taste(user, category) / max taste(user))",
            "taste_floor": self.taste_floor,
            "theta": {surface: list(curve) for surface, curve in self.theta.items()},
            "categories": list(self.categories),
            "videos": {
                video: {"category": self.categories[self.video_category[video]], "appeal": appeal}
                for video, appeal in self.video_appeal.items()
            },
            "viewers": {user: list(tastes) for user, tastes in self.viewer_tastes.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GroundTruth:
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise ValueError(f"not a ground truth file (expected format {FORMAT!r})")
        if data.get("version") != FORMAT_VERSION:
            raise ValueError(f"ground truth version {data.get('version')!r} is not {FORMAT_VERSION}")
        try:
            categories = tuple(str(c) for c in data["categories"])
            index = {name: i for i, name in enumerate(categories)}
            videos = data["videos"]
            return cls(
                theta={str(s): tuple(float(t) for t in curve) for s, curve in data["theta"].items()},
                categories=categories,
                video_category={str(v): index[meta["category"]] for v, meta in videos.items()},
                video_appeal={str(v): float(meta["appeal"]) for v, meta in videos.items()},
                viewer_tastes={str(u): tuple(float(w) for w in ws) for u, ws in data["viewers"].items()},
                taste_floor=float(data["taste_floor"]),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"malformed ground truth: {exc!r}") from exc

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the JSON file atomically (a reader never sees half a truth)."""
        target = Path(path)
        partial = target.with_name(target.name + ".partial")
        partial.write_text(json.dumps(self.to_json(), separators=(",", ":")) + "\n")
        os.replace(partial, target)
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> GroundTruth:
        try:
            data = json.loads(Path(path).read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not JSON ({exc})") from exc
        try:
            return cls.from_json(data)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from exc

    # -- checks ---------------------------------------------------------------------------
    def _check(self) -> None:
        """Bad input gets a clear error: every probability in range, every reference resolvable."""
        if not 0.0 < self.taste_floor <= 1.0:
            raise ValueError(f"taste_floor must be in (0, 1], got {self.taste_floor}")
        for surface, curve in self.theta.items():
            if not curve or not all(0.0 < t <= 1.0 for t in curve):
                raise ValueError(f"theta[{surface!r}] must be probabilities in (0, 1], got {curve}")
        if set(self.video_category) != set(self.video_appeal):
            raise ValueError("video_category and video_appeal must name the same videos")
        for video, appeal in self.video_appeal.items():
            if not 0.0 < appeal < 1.0:
                raise ValueError(f"appeal of {video!r} must be in (0, 1), got {appeal}")
            if not 0 <= self.video_category[video] < len(self.categories):
                raise ValueError(f"category index of {video!r} is not one of the {len(self.categories)} categories")
        for user, tastes in self.viewer_tastes.items():
            if len(tastes) != len(self.categories) or min(tastes, default=0.0) < 0.0:
                raise ValueError(f"tastes of {user!r} must be {len(self.categories)} non-negative weights")
