"""A deterministic traffic simulator that plays realistic viewers.

The simulation is pure: given a ``TrafficProfile`` (with its seed) and a start time,
``Simulator.emissions()`` yields the same events, in the same order, every time.
Only the runner (``emitters.traffic``) touches the wall clock, to pace sending.

The model is a discrete-event simulation over a pool of viewers:

* ``concurrency`` browsing sessions run at once; each step of a session is one
  event, spaced by a think time of about ``think_s``, so the stream runs at about
  ``rate`` events/s.
* A session lands on a surface (home, search, ...). Each browsing step renders a row
  of 12 thumbnails (a ``ThumbnailsShown``) ranked by a simulated recommender:
  popularity, a weak personal term and noise, so a video is shown at many slots.
  The viewer clicks by the position-based model of ``emitters.ground_truth``: slot k
  is examined with probability theta_k of the surface, an examined thumbnail is
  clicked with probability gamma(viewer, video). Each click (carrying the shown
  thumbnail's ``impression_id``, slot, rank and the row's ``request_id``) is followed
  by a viewing with pauses at increasing, plausible positions (likelier to finish
  when gamma is high); after a row with clicks the viewer often follows ``up_next``,
  after one without they move on to another surface. ``Simulator.truth()`` returns
  the model (theta, every video's appeal, every viewer's tastes) so the estimates
  can be checked against it; docs/simulator.md has the formulas.
* ``exploration`` of the rows swap rank 1 with a uniformly random rank k in 2..12
  (logged with its propensity), the randomisation that measures position bias.
* After a session the viewer goes idle for 1.2-3x the session gap, so the
  pipeline sees distinct sessions per user; some viewers own two devices and
  switch between them.
* Knobs inject duplicate deliveries, semantically invalid events (valid Avro,
  bad values), late deliveries (sent long after they happened) and devices with
  skewed clocks. Each emission carries its ``kind`` so tests and the summary know
  what was sent.
* Each viewer is a person who answered the consent banner once (granted, declined
  personalisation, declined analytics, or was never asked: no consent record), or
  a crawler (a bot's User-Agent, no consent). Both are drawn from a random stream
  of their own, so a seed plays the same events at the same times whatever the
  shares; only their ``consent`` and User-Agent differ.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace

from clickstream.core.reasons import Reason
from clickstream.core.synthetic_videos import CATEGORIES, generate_videos, video_id
from emitters.events import (
    ClientInfo,
    Consent,
    Event,
    Exploration,
    ShownThumbnail,
    ThumbnailClicked,
    ThumbnailsShown,
    VideoPaused,
)
from emitters.ground_truth import (
    DEFAULT_EXAMINATION,
    SLOTS,
    TASTE_FLOOR,
    ExaminationCurve,
    GroundTruth,
    affinities,
    click_probability,
    draw_appeal,
    draw_tastes,
)

SURFACES = ("home", "search", "up_next", "channel", "notifications")
_LANDING_SURFACES = ("home", "home", "home", "search", "search", "notifications", "channel")
_USER_AGENTS = {
    "web": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/18.1 Safari/605.1.15",
        "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    ),
    "android": (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Mobile Safari/537.36",
        "Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/130.0.0.0 Mobile Safari/537.36",
    ),
    "ios": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/18.1 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.6 Mobile/15E148 Safari/604.1",
    ),
    "tv": (
        "Mozilla/5.0 (SMART-TV; Linux; Tizen 7.0) AppleWebKit/537.36 (KHTML, like Gecko) "
        "SamsungBrowser/5.0 Chrome/94.0.4606.31 TV Safari/537.36",
    ),
}
# Crawlers as they announce themselves; the pipeline's enrichment marks each as a bot (ua-parser's
# Spider device family, or the crawler-user-agents list).
BOT_USER_AGENTS = (
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "python-requests/2.32.3",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36",
)
# The version of the consent text the simulated people answered.
POLICY_VERSION = "2026-05"
_PLATFORM_WEIGHTS = (("web", 0.42), ("android", 0.30), ("ios", 0.22), ("tv", 0.06))
_LOCALES = ("en-US", "en-GB", "de-DE", "fr-FR", "pt-BR", "ja-JP", "es-ES")
_PLAYBACK_RATES = ((1.0, 0.86), (1.25, 0.05), (1.5, 0.05), (2.0, 0.04))
_EVENT_TIME_REASONS = (Reason.EVENT_TIME_IN_FUTURE, Reason.EVENT_TIME_TOO_OLD)
_ANY_EVENT_REASONS = (*_EVENT_TIME_REASONS, Reason.MISSING_VIDEO_ID)
# Which bad values each payload type can carry, named after the reason the pipeline gives them.
INVALID_REASONS_BY_TYPE = {
    "VideoPaused": (Reason.NEGATIVE_POSITION, Reason.POSITION_BEYOND_DURATION, *_ANY_EVENT_REASONS),
    "ThumbnailClicked": (Reason.INVALID_SLOT, *_ANY_EVENT_REASONS),
    "ThumbnailsShown": (Reason.DUPLICATE_IMPRESSION_ID, *_EVENT_TIME_REASONS),
}
INVALID_REASONS = tuple(sorted({r for rs in INVALID_REASONS_BY_TYPE.values() for r in rs}))
# Events per session, on average (measured): ~2.2 rows, ~1 click per row, ~1.6 pauses per click.
_EVENTS_PER_SESSION = 6.7
# The simulated recommender that ranks each row. It scores a pool of candidates drawn by
# popularity: log popularity + PERSONAL_WEIGHT * affinity(viewer, category) + Gumbel noise. The
# personal term is weak on purpose: the logging policy must not sort every video to the slots
# where its viewers would click it anyway, or position and appeal could not be told apart.
MODEL_VERSION = "sim-popularity-1"
_POOL = 20
PERSONAL_WEIGHT = 0.15
_POPULARITY_EXPONENT = 0.8  # Zipf-like: the catalog's video i has popularity (i + 1) ** -0.8
# Fresh uploads the catalog does not know yet (ids right after the catalog's); the truth knows them.
FRESH_UPLOADS = 1000
# Rows on home are a grid of this many columns (row/col are logged); other surfaces are lists.
_HOME_COLUMNS = 4
_IDLE_GAP_FACTORS = (1.2, 3.0)


_CONSENT_SHARES = ("analytics_denied", "personalization_denied", "no_consent")


@dataclass(frozen=True)
class TrafficProfile:
    """What traffic to play. Fractions are per event (skew: per device; consent and bots: per viewer).

    Of the people (viewers who are not bots), ``analytics_denied`` declined analytics (and with it
    personalisation: the pipeline stores nothing of their events), ``personalization_denied``
    granted analytics but declined personalisation, ``no_consent`` carry no consent record (the
    pipeline's ``consent_default`` decides), and the rest granted both. ``bots`` of the viewers are
    crawlers (``BOT_USER_AGENTS``, no consent record).
    """

    rate: float = 20.0
    viewers: int | None = None  # None: enough viewers to sustain ``rate`` with real idle gaps
    seed: int = 1
    session_gap_s: float = 1800.0
    duplicates: float = 0.0
    invalid: float = 0.0
    late: float = 0.0
    skewed: float = 0.0
    two_device_share: float = 0.2
    catalog_size: int = 500
    unknown_video_share: float = 0.01
    analytics_denied: float = 0.03
    personalization_denied: float = 0.10
    no_consent: float = 0.04
    bots: float = 0.02
    exploration: float = 0.0  # share of rows randomised by swapping rank 1 with a random rank 2..12
    # theta_k per surface (emitters.ground_truth): every surface in SURFACES needs a curve.
    examination: Mapping[str, ExaminationCurve] = field(default_factory=lambda: dict(DEFAULT_EXAMINATION))

    def __post_init__(self) -> None:
        if self.rate <= 0:
            raise ValueError("rate must be > 0 events/s")
        if self.session_gap_s <= 0:
            raise ValueError("session_gap_s must be > 0")
        for name in (
            "duplicates",
            "invalid",
            "late",
            "skewed",
            "two_device_share",
            "unknown_video_share",
            *_CONSENT_SHARES,
            "bots",
            "exploration",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a fraction in [0, 1], got {value}")
        if sum(getattr(self, name) for name in _CONSENT_SHARES) > 1.0:
            raise ValueError(f"{', '.join(_CONSENT_SHARES)} add up to more than 1")
        if self.viewers is not None and self.viewers < 1:
            raise ValueError("viewers must be >= 1")
        if self.catalog_size < 1:
            raise ValueError("catalog_size must be >= 1")
        missing = [s for s in SURFACES if not isinstance(self.examination.get(s), ExaminationCurve)]
        if missing:
            raise ValueError(f"no examination curve for {', '.join(missing)} (every surface needs one)")

    @property
    def think_s(self) -> float:
        """Mean pause between a viewer's events: human-like, but well inside the session gap."""
        return max(0.05, min(30.0, self.session_gap_s / 8))

    @property
    def concurrency(self) -> int:
        return max(1, round(self.rate * self.think_s))

    @property
    def viewer_count(self) -> int:
        if self.viewers is not None:
            return self.viewers
        idle = sum(_IDLE_GAP_FACTORS) / 2 * self.session_gap_s
        session = _EVENTS_PER_SESSION * self.think_s
        return max(self.concurrency, math.ceil(self.concurrency * (session + idle) / session * 1.1))


@dataclass(frozen=True, slots=True)
class Emission:
    due_s: float  # when to send, in seconds after the simulation start
    event: Event
    kind: str  # valid | duplicate | late | skewed | invalid:<reason>
    bot: bool = False  # sent by a crawler (a bot's User-Agent)


@dataclass
class _Device:
    device_id: str
    client: ClientInfo
    clock_offset_ms: int


@dataclass
class _Viewer:
    user_id: str
    devices: list[_Device]
    tastes: tuple[float, ...] = ()
    affinity: tuple[float, ...] = ()  # per category, from tastes (emitters.ground_truth.affinities)
    available_at: float = 0.0
    consent: Consent | None = None
    bot: bool = False


# A version-4 UUID from 128 random bits, as uuid.UUID(int=..., version=4) makes it, without the
# object: ids are a good part of the simulator's cost (one per thumbnail shown).
_UUID_KEEP = ~((0xC000 << 48) | (0xF000 << 64)) & ((1 << 128) - 1)
_UUID_SET = (0x8000 << 48) | (0x4000 << 64)


class Simulator:
    def __init__(self, profile: TrafficProfile, start_ms: int):
        self.profile = profile
        self.start_ms = start_ms
        self._rng = random.Random(profile.seed)
        # Who each viewer is (consent, bot) comes from a stream of its own, so the shares change
        # nothing else of what a seed plays.
        self._people = random.Random(f"{profile.seed}:people")
        # Tastes and the exploration draws come from streams of their own too: the truth of a
        # seed does not depend on the knobs, and exploration shifts no other draw of a row.
        self._taste_rng = random.Random(f"{profile.seed}:tastes")
        self._explore = random.Random(f"{profile.seed}:explore")
        catalog = generate_videos(profile.catalog_size)
        size = len(catalog)
        self._cum_popularity = list(itertools.accumulate((i + 1) ** -_POPULARITY_EXPONENT for i in range(size)))
        self._log_popularity = [-_POPULARITY_EXPONENT * math.log(i + 1) for i in range(size)]
        # Every video that can be shown, by index: the catalog's, then the fresh uploads.
        appeal_rng = random.Random(f"{profile.seed}:appeal")
        category_index = {name: i for i, name in enumerate(CATEGORIES)}
        self._video_ids = [v.video_id for v in catalog] + [video_id(size + i) for i in range(FRESH_UPLOADS)]
        self._durations: list[int | None] = [v.duration_ms for v in catalog] + [None] * FRESH_UPLOADS
        self._categories = [category_index[v.category] for v in catalog] + [
            appeal_rng.randrange(len(CATEGORIES)) for _ in range(FRESH_UPLOADS)
        ]
        self._appeal = [draw_appeal(appeal_rng) for _ in self._video_ids]
        self._theta = {surface: curve.thetas(SLOTS) for surface, curve in profile.examination.items()}
        self._viewers: list[_Viewer] = []

    def truth(self) -> GroundTruth:
        """The click model this stream was played from, for the viewers created so far."""
        ids = self._video_ids
        return GroundTruth(
            theta=dict(self._theta),
            categories=CATEGORIES,
            video_category={ids[i]: c for i, c in enumerate(self._categories)},
            video_appeal={ids[i]: a for i, a in enumerate(self._appeal)},
            viewer_tastes={v.user_id: v.tastes for v in self._viewers},
            taste_floor=TASTE_FLOOR,
        )

    # ------------------------------------------------------------------ building blocks
    def _uuid(self) -> str:
        h = "%032x" % ((self._rng.getrandbits(128) & _UUID_KEEP) | _UUID_SET)  # %-format: the fastest here
        return "-".join((h[:8], h[8:12], h[12:16], h[16:20], h[20:]))

    def _hex(self, n: int) -> str:
        return f"{self._rng.getrandbits(4 * n):0{n}x}"

    def _device(self) -> _Device:
        rng = self._rng
        platform = rng.choices([p for p, _ in _PLATFORM_WEIGHTS], [w for _, w in _PLATFORM_WEIGHTS])[0]
        skewed = rng.random() < self.profile.skewed
        offset = 0
        if skewed:
            offset = rng.choice((-1, 1)) * rng.randint(5 * 60_000, 2 * 3_600_000)
        client = ClientInfo(
            platform=platform,
            app_version=f"{rng.randint(5, 7)}.{rng.randint(0, 12)}.{rng.randint(0, 9)}",
            user_agent=rng.choice(_USER_AGENTS[platform]),
            locale=rng.choice(_LOCALES),
        )
        return _Device(f"d-{self._hex(12)}", client, offset)

    def _viewer(self) -> _Viewer:
        devices = [self._device()]
        if self._rng.random() < self.profile.two_device_share:
            devices.append(self._device())
        tastes = draw_tastes(self._taste_rng, len(CATEGORIES))
        viewer = _Viewer(
            user_id=f"u-{self._hex(16)}", devices=devices, tastes=tastes, affinity=affinities(tastes, TASTE_FLOOR)
        )
        self._viewers.append(viewer)
        # A fixed number of draws per viewer: the stream of who is who does not shift with the shares.
        profile, people = self.profile, self._people
        bot_roll, consent_roll, agent = people.random(), people.random(), people.choice(BOT_USER_AGENTS)
        if bot_roll < profile.bots:
            viewer.bot = True
            for device in devices:
                device.client = replace(device.client, platform="web", user_agent=agent)
            return viewer
        denied, personal, unasked = profile.analytics_denied, profile.personalization_denied, profile.no_consent
        if consent_roll < unasked:
            viewer.consent = None
        elif consent_roll < unasked + denied:
            viewer.consent = Consent(analytics=False, personalization=False, policy_version=POLICY_VERSION)
        elif consent_roll < unasked + denied + personal:
            viewer.consent = Consent(analytics=True, personalization=False, policy_version=POLICY_VERSION)
        else:
            viewer.consent = Consent(analytics=True, personalization=True, policy_version=POLICY_VERSION)
        return viewer

    def _recommend(self, viewer: _Viewer, exclude: set[int]) -> list[int]:
        """The simulated recommender's ranking: 12 video indexes, best first.

        A pool of candidates is drawn by popularity (without replacement), scored by log
        popularity + a weak personal term + Gumbel noise, and the best 12 are the row; each
        thumbnail is a fresh upload instead with ``unknown_video_share``."""
        rng, cum, size = self._rng, self._cum_popularity, len(self._cum_popularity)
        total = cum[-1]
        chosen = set(exclude)
        pool: list[int] = []
        for _ in range(min(_POOL, size - sum(1 for i in chosen if i < size))):
            while True:
                index = min(size - 1, bisect.bisect_left(cum, rng.random() * total))
                if index not in chosen:
                    break
            chosen.add(index)
            pool.append(index)
        affinity, categories, log_pop = viewer.affinity, self._categories, self._log_popularity
        scored = sorted(
            (log_pop[i] + PERSONAL_WEIGHT * affinity[categories[i]] - math.log(-math.log(rng.random() or 1e-300)), i)
            for i in pool
        )
        ranked = [i for _, i in reversed(scored[-SLOTS:])]
        for position in range(SLOTS):  # a catalog smaller than a row is filled up with fresh uploads
            if position < len(ranked) and rng.random() >= self.profile.unknown_video_share:
                continue
            fresh = size + rng.randrange(FRESH_UPLOADS)
            while fresh in chosen:
                fresh = size + rng.randrange(FRESH_UPLOADS)
            chosen.add(fresh)
            if position < len(ranked):
                ranked[position] = fresh
            else:
                ranked.append(fresh)
        return ranked

    def _row(
        self, viewer: _Viewer, surface: str, exclude: set[int]
    ) -> tuple[ThumbnailsShown, list[tuple[ShownThumbnail, int, float]]]:
        """A rendered row, and the thumbnails the viewer clicks in it (slot order) with their gamma."""
        rng = self._rng
        ranked = self._recommend(viewer, exclude)
        order = list(enumerate(ranked, start=1))  # (rank, video index) in slot order
        exploration = None
        # A fixed number of draws per row from the exploration stream: the share changes nothing else.
        roll, swapped = self._explore.random(), self._explore.randint(2, len(order))
        if roll < self.profile.exploration:
            order[0], order[swapped - 1] = order[swapped - 1], order[0]
            exploration = Exploration("swap_first", swapped, self.profile.exploration / (SLOTS - 1))
        grid = surface == "home"
        ids, theta, affinity = self._video_ids, self._theta[surface], viewer.affinity
        items: list[ShownThumbnail] = []
        clicks: list[tuple[ShownThumbnail, int, float]] = []
        for slot, (rank, index) in enumerate(order, start=1):
            item = ShownThumbnail(
                video_id=ids[index],
                impression_id=self._uuid(),
                slot=slot,
                rank=rank,
                row=(slot - 1) // _HOME_COLUMNS + 1 if grid else None,
                col=(slot - 1) % _HOME_COLUMNS + 1 if grid else None,
            )
            items.append(item)
            # The position-based model: examined with theta_slot, then clicked with gamma.
            gamma = click_probability(self._appeal[index], affinity[self._categories[index]])
            if rng.random() < theta[slot - 1] * gamma:
                clicks.append((item, index, gamma))
        row = ThumbnailsShown(
            request_id=self._uuid(),
            surface=surface,
            items=tuple(items),
            model_version=MODEL_VERSION,
            exploration=exploration,
        )
        return row, clicks

    def _viewing(self, index: int, gamma: float) -> Iterator[VideoPaused]:
        """The pauses of one viewing: many bail early, some finish, likelier when gamma is high."""
        rng = self._rng
        known_duration = self._durations[index] or rng.randint(60_000, 1_800_000)
        watched = rng.choices(
            (rng.uniform(0.02, 0.3), rng.uniform(0.3, 0.9), rng.uniform(0.9, 1.0)),
            (0.55 - 0.5 * gamma, 0.35, 0.1 + 0.5 * gamma),
        )[0]
        pauses = sorted(rng.uniform(0.01, watched) for _ in range(rng.choice((1, 1, 1, 2, 2, 3))))
        rate = rng.choices([r for r, _ in _PLAYBACK_RATES], [w for _, w in _PLAYBACK_RATES])[0]
        for fraction in pauses:
            yield VideoPaused(
                video_id=self._video_ids[index],
                position_ms=int(fraction * known_duration),
                video_duration_ms=known_duration if rng.random() < 0.9 else None,
                playback_rate=rate,
            )

    def _session_script(
        self, viewer: _Viewer
    ) -> Iterator[tuple[_Device, ThumbnailsShown | ThumbnailClicked | VideoPaused]]:
        """One browsing session as a sequence of (device, payload): rows, their clicks, viewings."""
        rng = self._rng
        device = viewer.devices[-1] if len(viewer.devices) > 1 and rng.random() < 0.35 else viewer.devices[0]
        surface = rng.choice(_LANDING_SURFACES)
        exclude: set[int] = set()
        for _ in range(max(1, min(10, int(rng.expovariate(1 / 2.5)) + 1))):
            row, clicks = self._row(viewer, surface, exclude)
            yield device, row
            # Clicks on a row are independent (the position-based model): a viewer who comes back
            # to the row may click another thumbnail. They are played in slot order.
            for item, index, gamma in clicks:
                yield (
                    device,
                    ThumbnailClicked(
                        video_id=item.video_id,
                        impression_id=item.impression_id,
                        surface=surface,
                        slot=item.slot,
                        rank=item.rank,
                        recommendation_request_id=row.request_id,
                        thumbnail_variant=rng.choice((None, "A", "B")),
                    ),
                )
                for pause in self._viewing(index, gamma):
                    yield device, pause
            if rng.random() < 0.3:
                break
            if clicks:
                # Up next, beside the last video watched (which it does not show again).
                exclude = {clicks[-1][1]}
                surface = "up_next" if rng.random() < 0.7 else rng.choice(SURFACES)
            else:
                exclude = set()
                surface = rng.choice(_LANDING_SURFACES)

    def _make_event(self, viewer: _Viewer, device: _Device, payload: object, t: float) -> tuple[Event, float]:
        """The event as the device's clock stamps it, and when it is sent (sim seconds)."""
        rng = self._rng
        event_ts = self.start_ms + int(t * 1000) + device.clock_offset_ms
        delay_ms = rng.randint(20, 400)
        event = Event(
            event_id=self._uuid(),
            user_id=viewer.user_id,
            device_id=device.device_id,
            client=device.client,
            payload=payload,  # type: ignore[arg-type]
            event_ts_ms=event_ts,
            sent_at_ms=event_ts + delay_ms,
            consent=viewer.consent,
        )
        return event, t + delay_ms / 1000

    def _make_invalid(self, event: Event, reason: str) -> Event:
        payload = event.payload
        day_ms = 86_400_000
        if reason == Reason.NEGATIVE_POSITION and isinstance(payload, VideoPaused):
            return replace(event, payload=replace(payload, position_ms=-abs(payload.position_ms) - 1000))
        if reason == Reason.POSITION_BEYOND_DURATION and isinstance(payload, VideoPaused):
            duration = payload.video_duration_ms or 600_000
            return replace(event, payload=replace(payload, video_duration_ms=duration, position_ms=duration + 120_000))
        if reason == Reason.INVALID_SLOT and isinstance(payload, ThumbnailClicked):
            return replace(event, payload=replace(payload, slot=0, rank=-1))
        if reason == Reason.DUPLICATE_IMPRESSION_ID and isinstance(payload, ThumbnailsShown):
            first, second, *rest = payload.items
            twin = replace(second, impression_id=first.impression_id)
            return replace(event, payload=replace(payload, items=(first, twin, *rest)))
        if reason == Reason.EVENT_TIME_IN_FUTURE:
            return replace(event, event_ts_ms=event.event_ts_ms + 2 * day_ms)
        if reason == Reason.EVENT_TIME_TOO_OLD:
            return replace(event, event_ts_ms=event.event_ts_ms - 400 * day_ms)
        if reason == Reason.MISSING_VIDEO_ID:
            return replace(event, payload=replace(payload, video_id=""))
        raise ValueError(f"{reason} does not apply to {event.event_type}")

    # ------------------------------------------------------------------ the stream
    def emissions(self, until_s: float | None = None) -> Iterator[Emission]:
        """The time-ordered stream of emissions: endless (callers bound it), or, with ``until_s``,
        one that renders no row from ``until_s`` on and ends once the rows rendered before have
        played out (their clicks and viewings). Cut by a count instead, the stream misses the
        clicks still to come of the rows in flight, more of them the deeper the slot, which
        biases any estimate of theta_k; a log to compare with the truth ends with ``until_s``."""
        profile = self.profile
        rng = self._rng
        fresh = iter(range(profile.viewer_count))
        idle: list[tuple[float, int, _Viewer]] = []  # heap by available_at
        scripts: dict[int, tuple[_Viewer, Iterator]] = {}
        steps: list[tuple[float, int, int]] = []  # heap of (time, seq, session slot)
        outbox: list[tuple[float, int, Emission]] = []
        counter = itertools.count()

        def next_viewer(t: float) -> tuple[_Viewer, float] | None:
            if idle and idle[0][0] <= t:
                _, _, v = heapq.heappop(idle)
                return v, t
            if next(fresh, None) is not None:
                return self._viewer(), t
            if idle:
                at, _, v = heapq.heappop(idle)
                return v, at
            return None

        def start_session(slot: int, t: float) -> None:
            if until_s is not None and t >= until_s:
                return
            picked = next_viewer(t)
            if picked is None:
                return
            viewer, begin = picked
            scripts[slot] = (viewer, self._session_script(viewer))
            heapq.heappush(steps, (begin + rng.uniform(0, profile.think_s), next(counter), slot))

        for slot in range(min(profile.concurrency, profile.viewer_count)):
            start_session(slot, 0.0)

        while steps:
            t, _, session = heapq.heappop(steps)
            viewer, script = scripts[session]
            item = next(script, None)
            if item is not None and until_s is not None and t >= until_s and isinstance(item[1], ThumbnailsShown):
                item = None  # no new row from until_s on: the session ends here
            if item is None:
                viewer.available_at = t + rng.uniform(*_IDLE_GAP_FACTORS) * profile.session_gap_s
                heapq.heappush(idle, (viewer.available_at, next(counter), viewer))
                start_session(session, t)
                continue
            device, payload = item
            event, due = self._make_event(viewer, device, payload, t)
            kind = "skewed" if device.clock_offset_ms else "valid"
            roll = rng.random()
            if roll < profile.invalid:
                reason = rng.choice(INVALID_REASONS_BY_TYPE[event.event_type])
                event, kind = self._make_invalid(event, reason), f"invalid:{reason}"
            elif roll < profile.invalid + profile.late:
                # The device was offline: the event is sent long after it happened.
                delay_s = rng.uniform(0.5, 2.0) * profile.session_gap_s + rng.uniform(1, 5)
                event = replace(event, sent_at_ms=(event.sent_at_ms or 0) + int(delay_s * 1000))
                due, kind = due + delay_s, "late"
            heapq.heappush(outbox, (due, next(counter), Emission(due, event, kind, viewer.bot)))
            if rng.random() < profile.duplicates:
                again = due + rng.uniform(0.05, 2.0)
                heapq.heappush(outbox, (again, next(counter), Emission(again, event, "duplicate", viewer.bot)))
            heapq.heappush(steps, (t + rng.uniform(0.3, 1.7) * profile.think_s, next(counter), session))
            # Release everything due before the earliest future step: time order is kept.
            horizon = steps[0][0] if steps else math.inf
            while outbox and outbox[0][0] <= horizon:
                yield heapq.heappop(outbox)[2]
        while outbox:
            yield heapq.heappop(outbox)[2]
