"""Runs a ``Simulator`` in real time against a publisher, with progress and a summary."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from emitters.events import Event, ThumbnailsShown, now_ms
from emitters.ground_truth import GroundTruth
from emitters.publisher import EventPublisher, PublishReport
from emitters.simulator import Emission, Simulator, TrafficProfile


def consent_label(event: Event) -> str:
    """granted | personalization_denied | analytics_denied | none (no consent record)."""
    consent = event.consent
    if consent is None:
        return "none"
    if not consent.analytics:
        return "analytics_denied"
    return "granted" if consent.personalization else "personalization_denied"


@dataclass
class TrafficSummary:
    sent: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    by_consent: Counter[str] = field(default_factory=Counter)  # per send, by ``consent_label``
    by_type: Counter[str] = field(default_factory=Counter)  # per send, by event type
    impressions: int = 0  # thumbnails in the ThumbnailsShown rows sent (duplicates included)
    bot_sends: int = 0  # sends of crawler viewers (the pipeline stores them marked is_bot)
    # Sends with analytics denied that pass validation (duplicates included): what the pipeline
    # filters as ``consent_denied`` instead of storing. Denied events with an invalid value are
    # dead-lettered first (the consent filter runs after validation), so they are not in here.
    consent_denied_valid: int = 0
    elapsed_s: float = 0.0
    report: PublishReport | None = None
    truth: GroundTruth | None = None  # the click model the stream was played from (``Simulator.truth``)

    @property
    def distinct_events(self) -> int:
        """Events with a new event_id: every send except the injected duplicates."""
        return self.sent - self.by_kind["duplicate"]

    @property
    def rate(self) -> float:
        return self.sent / self.elapsed_s if self.elapsed_s else 0.0


def play(
    profile: TrafficProfile,
    publisher: EventPublisher,
    *,
    max_events: int | None = None,
    duration_s: float | None = None,
    on_emit: Callable[[Emission], None] | None = None,
    realtime: bool = True,
) -> TrafficSummary:
    """Send the simulator's stream until ``max_events`` or ``duration_s`` is reached.

    With ``realtime`` each emission waits for its due time, so event times track the
    wall clock (the pipeline's future/age checks see what production would).
    """
    if max_events is None and duration_s is None:
        raise ValueError("give max_events or duration_s, or both")
    start_wall = time.monotonic()
    simulator = Simulator(profile, start_ms=now_ms())
    summary = TrafficSummary()
    for emission in simulator.emissions():
        if max_events is not None and summary.sent >= max_events:
            break
        if duration_s is not None and emission.due_s > duration_s:
            break
        if realtime:
            wait = start_wall + emission.due_s - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        publisher.publish(emission.event)
        summary.sent += 1
        summary.by_kind[emission.kind] += 1
        label = consent_label(emission.event)
        summary.by_consent[label] += 1
        summary.by_type[emission.event.event_type] += 1
        if isinstance(emission.event.payload, ThumbnailsShown):
            summary.impressions += len(emission.event.payload.items)
        summary.bot_sends += emission.bot
        if label == "analytics_denied" and not emission.kind.startswith("invalid:"):
            summary.consent_denied_valid += 1
        if on_emit is not None:
            on_emit(emission)
    summary.report = publisher.flush()
    summary.truth = simulator.truth()
    summary.elapsed_s = time.monotonic() - start_wall
    return summary
