"""A deterministic traffic simulator that plays realistic viewers.

The simulation is pure: given a ``TrafficProfile`` (with its seed) and a start time,
``Simulator.emissions()`` yields the same events, in the same order, every time.
Only the runner (``emitters.traffic``) touches the wall clock, to pace sending.

The model is a discrete-event simulation over a pool of viewers:

* ``concurrency`` browsing sessions run at once; each step of a session is one
  event, spaced by a think time of about ``think_s``, so the stream runs at about
  ``rate`` events/s.
* A session lands on a surface (home, search, ...), clicks a thumbnail with a
  position bias towards the first slots, watches the video with pauses at
  increasing, plausible positions, and often follows ``up_next``.
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
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from clickstream.core.reasons import Reason
from clickstream.core.synthetic_videos import generate_videos, video_id
from emitters.events import ClientInfo, Consent, Event, ThumbnailClicked, VideoPaused

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
_ANY_EVENT_REASONS = (Reason.EVENT_TIME_IN_FUTURE, Reason.EVENT_TIME_TOO_OLD, Reason.MISSING_VIDEO_ID)
# Which bad values each payload type can carry, named after the reason the pipeline gives them.
INVALID_REASONS_BY_TYPE = {
    "VideoPaused": (Reason.NEGATIVE_POSITION, Reason.POSITION_BEYOND_DURATION, *_ANY_EVENT_REASONS),
    "ThumbnailClicked": (Reason.INVALID_SLOT, *_ANY_EVENT_REASONS),
}
INVALID_REASONS = tuple(sorted({r for rs in INVALID_REASONS_BY_TYPE.values() for r in rs}))
# Events per session, on average: a click, ~1.6 pauses, repeated ~2.5 times.
_EVENTS_PER_SESSION = 6.5
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
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a fraction in [0, 1], got {value}")
        if sum(getattr(self, name) for name in _CONSENT_SHARES) > 1.0:
            raise ValueError(f"{', '.join(_CONSENT_SHARES)} add up to more than 1")
        if self.viewers is not None and self.viewers < 1:
            raise ValueError("viewers must be >= 1")

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
    available_at: float = 0.0
    consent: Consent | None = None
    bot: bool = False


@dataclass(order=True)
class _Step:
    t: float
    seq: int
    slot: int = field(compare=False)


class Simulator:
    def __init__(self, profile: TrafficProfile, start_ms: int):
        self.profile = profile
        self.start_ms = start_ms
        self._rng = random.Random(profile.seed)
        # Who each viewer is (consent, bot) comes from a stream of its own, so the shares change
        # nothing else of what a seed plays.
        self._people = random.Random(f"{profile.seed}:people")
        self._catalog = generate_videos(profile.catalog_size)
        self._cum_popularity = list(itertools.accumulate(1.0 / (i + 1) ** 0.8 for i in range(len(self._catalog))))
        self._slot_weights = [1.0 / slot**1.1 for slot in range(1, 13)]

    # ------------------------------------------------------------------ building blocks
    def _uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

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
        viewer = _Viewer(user_id=f"u-{self._hex(16)}", devices=devices)
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

    def _pick_video(self) -> tuple[str, int | None]:
        """A video id by Zipf-like popularity, and its duration if the catalog knows it."""
        rng = self._rng
        if rng.random() < self.profile.unknown_video_share:
            return video_id(len(self._catalog) + rng.randrange(1000)), None
        index = bisect.bisect_left(self._cum_popularity, rng.random() * self._cum_popularity[-1])
        video = self._catalog[min(len(self._catalog) - 1, index)]
        return video.video_id, video.duration_ms

    def _session_script(self, viewer: _Viewer) -> Iterator[tuple[_Device, ThumbnailClicked | VideoPaused]]:
        """One browsing session as a sequence of (device, payload)."""
        rng = self._rng
        device = viewer.devices[-1] if len(viewer.devices) > 1 and rng.random() < 0.35 else viewer.devices[0]
        surface = rng.choice(_LANDING_SURFACES)
        for _ in range(max(1, min(8, int(rng.expovariate(1 / 2.5)) + 1))):
            slot = rng.choices(range(1, 13), self._slot_weights)[0]
            rank = max(1, slot + rng.choice((0, 0, 0, -1, 1, 2)))
            vid, duration = self._pick_video()
            request_id = self._uuid() if surface in ("home", "up_next") else None
            yield (
                device,
                ThumbnailClicked(
                    video_id=vid,
                    impression_id=self._uuid(),
                    surface=surface,
                    slot=slot,
                    rank=rank,
                    recommendation_request_id=request_id,
                    thumbnail_variant=rng.choice((None, "A", "B")),
                ),
            )
            known_duration = duration or rng.randint(60_000, 1_800_000)
            # How far this viewing gets: many bail early, a quarter finish.
            watched = rng.choices(
                (rng.uniform(0.02, 0.3), rng.uniform(0.3, 0.9), rng.uniform(0.9, 1.0)), (0.4, 0.35, 0.25)
            )[0]
            pauses = sorted(rng.uniform(0.01, watched) for _ in range(rng.choice((1, 1, 1, 2, 2, 3))))
            rate = rng.choices([r for r, _ in _PLAYBACK_RATES], [w for _, w in _PLAYBACK_RATES])[0]
            for fraction in pauses:
                yield (
                    device,
                    VideoPaused(
                        video_id=vid,
                        position_ms=int(fraction * known_duration),
                        video_duration_ms=known_duration if rng.random() < 0.9 else None,
                        playback_rate=rate,
                    ),
                )
            if rng.random() < 0.3:
                break
            surface = "up_next" if rng.random() < 0.7 else rng.choice(SURFACES)

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
        if reason == Reason.EVENT_TIME_IN_FUTURE:
            return replace(event, event_ts_ms=event.event_ts_ms + 2 * day_ms)
        if reason == Reason.EVENT_TIME_TOO_OLD:
            return replace(event, event_ts_ms=event.event_ts_ms - 400 * day_ms)
        if reason == Reason.MISSING_VIDEO_ID:
            return replace(event, payload=replace(payload, video_id=""))
        raise ValueError(f"{reason} does not apply to {event.event_type}")

    # ------------------------------------------------------------------ the stream
    def emissions(self) -> Iterator[Emission]:
        """The endless, time-ordered stream of emissions (callers bound it)."""
        profile = self.profile
        rng = self._rng
        fresh = iter(range(profile.viewer_count))
        idle: list[tuple[float, int, _Viewer]] = []  # heap by available_at
        viewers: dict[int, _Viewer] = {}
        scripts: dict[int, tuple[_Viewer, Iterator]] = {}
        steps: list[_Step] = []
        outbox: list[tuple[float, int, Emission]] = []
        counter = itertools.count()

        def next_viewer(t: float) -> tuple[_Viewer, float] | None:
            if idle and idle[0][0] <= t:
                _, _, v = heapq.heappop(idle)
                return v, t
            index = next(fresh, None)
            if index is not None:
                viewers[index] = self._viewer()
                return viewers[index], t
            if idle:
                at, _, v = heapq.heappop(idle)
                return v, at
            return None

        def start_session(slot: int, t: float) -> None:
            picked = next_viewer(t)
            if picked is None:
                return
            viewer, begin = picked
            scripts[slot] = (viewer, self._session_script(viewer))
            heapq.heappush(steps, _Step(begin + rng.uniform(0, profile.think_s), next(counter), slot))

        for slot in range(min(profile.concurrency, profile.viewer_count)):
            start_session(slot, 0.0)

        while steps:
            step = heapq.heappop(steps)
            viewer, script = scripts[step.slot]
            item = next(script, None)
            if item is None:
                viewer.available_at = step.t + rng.uniform(*_IDLE_GAP_FACTORS) * profile.session_gap_s
                heapq.heappush(idle, (viewer.available_at, next(counter), viewer))
                start_session(step.slot, step.t)
                continue
            device, payload = item
            event, due = self._make_event(viewer, device, payload, step.t)
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
            heapq.heappush(steps, _Step(step.t + rng.uniform(0.3, 1.7) * profile.think_s, next(counter), step.slot))
            # Release everything due before the earliest future step: time order is kept.
            horizon = steps[0].t if steps else math.inf
            while outbox and outbox[0][0] <= horizon:
                yield heapq.heappop(outbox)[2]
        while outbox:
            yield heapq.heappop(outbox)[2]
