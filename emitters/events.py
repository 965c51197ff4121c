"""Typed constructors for the event types, mirroring the Avro contract.

The dataclasses are the caller-facing shape; ``Event.to_record`` is the single
mapping onto the Avro record that ``clickstream.core.contract`` encodes.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from clickstream.core import attributes, contract


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def to_ms(value: datetime | int | None) -> int | None:
    if value is None or isinstance(value, int):
        return value
    if value.tzinfo is None:
        raise ValueError("event times must be timezone-aware (UTC)")
    return int(value.timestamp() * 1000)


def _fields(obj: Any) -> dict[str, Any]:
    """A flat slots dataclass as a dict. Its values are primitives, so no deep copy is needed
    (``dataclasses.asdict`` deep-copies: a fifth of the emitter's per-event cost)."""
    return {name: getattr(obj, name) for name in obj.__slots__}


@dataclass(frozen=True, slots=True)
class ClientInfo:
    platform: str
    app_version: str
    user_agent: str
    locale: str | None = None

    def to_record(self) -> dict[str, Any]:
        return _fields(self)  # field names are the Avro field names


@dataclass(frozen=True, slots=True)
class Consent:
    """What the person agreed to (contract 1.2): ``analytics`` False means the pipeline stores
    nothing of the event; ``personalization`` False keeps their events out of the signals made
    for them. An event without one is judged by the pipeline's ``consent_default``."""

    analytics: bool
    personalization: bool
    policy_version: str | None = None

    def to_record(self) -> dict[str, Any]:
        return _fields(self)


@dataclass(frozen=True, slots=True)
class VideoPaused:
    video_id: str
    position_ms: int
    video_duration_ms: int | None = None
    playback_rate: float | None = None

    event_type = "VideoPaused"

    def to_record(self) -> dict[str, Any]:
        return _fields(self)


@dataclass(frozen=True, slots=True)
class ThumbnailClicked:
    video_id: str
    impression_id: str
    surface: str
    slot: int
    rank: int
    recommendation_request_id: str | None = None
    thumbnail_variant: str | None = None

    event_type = "ThumbnailClicked"

    def to_record(self) -> dict[str, Any]:
        return _fields(self)


@dataclass(frozen=True, slots=True)
class ShownThumbnail:
    """One thumbnail of a rendered row (contract 1.3). ``slot`` is where it was on screen (the
    position of position bias); ``rank`` is where the recommender put it (they differ when an
    exploration swap moved it)."""

    video_id: str
    impression_id: str
    slot: int
    rank: int
    row: int | None = None
    col: int | None = None
    visible_ms: int | None = None

    def to_record(self) -> dict[str, Any]:
        return _fields(self)


@dataclass(frozen=True, slots=True)
class Exploration:
    """The row's order was randomised on purpose (contract 1.3): ``swap_first`` traded the
    items ranked 1 and ``swapped_rank``; ``propensity`` is the probability the policy showed
    the row in this order."""

    method: str
    swapped_rank: int
    propensity: float

    def to_record(self) -> dict[str, Any]:
        return _fields(self)


@dataclass(frozen=True, slots=True)
class ThumbnailsShown:
    """A row of thumbnails was rendered (contract 1.3): one event per row, one item per slot."""

    request_id: str
    surface: str
    items: tuple[ShownThumbnail, ...]
    model_version: str | None = None
    experiment_ids: tuple[str, ...] = ()
    exploration: Exploration | None = None

    event_type = "ThumbnailsShown"

    def to_record(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "surface": self.surface,
            "model_version": self.model_version,
            "experiment_ids": list(self.experiment_ids),
            "exploration": self.exploration.to_record() if self.exploration is not None else None,
            "items": [item.to_record() for item in self.items],
        }


Payload = VideoPaused | ThumbnailClicked | ThumbnailsShown


@dataclass(frozen=True, slots=True)
class Event:
    """One clickstream event. ``sent_at_ms`` is stamped by the publisher when left None."""

    event_id: str
    user_id: str
    device_id: str
    client: ClientInfo
    payload: Payload
    event_ts_ms: int
    sent_at_ms: int | None = None
    schema_version: str = ""
    event_type: str = ""
    consent: Consent | None = None

    def __post_init__(self) -> None:
        # Defaults derived from the payload; an explicit event_type is kept as given so
        # that a mismatch stays visible to validation instead of being papered over.
        if not self.schema_version:
            object.__setattr__(self, "schema_version", contract.current_version())
        if not self.event_type:
            object.__setattr__(self, "event_type", self.payload.event_type)

    def to_record(self, sent_at_ms: int | None = None) -> dict[str, Any]:
        sent_at = sent_at_ms if sent_at_ms is not None else self.sent_at_ms
        return {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "schema_version": self.schema_version,
            "event_ts": self.event_ts_ms,
            "sent_at": sent_at if sent_at is not None else now_ms(),
            "user_id": self.user_id,
            "device_id": self.device_id,
            "client": self.client.to_record(),
            "consent": self.consent.to_record() if self.consent is not None else None,
            "payload": (contract.payload_branch(self.payload.event_type), self.payload.to_record()),
        }

    def attributes(self) -> dict[str, str]:
        """Pub/Sub attributes (``clickstream.core.attributes``): Dataflow reads ``event_ts`` as
        timestamp_attribute; the pipeline picks the writer schema by ``schema_version``."""
        return attributes.contract_attributes(
            {
                "event_id": self.event_id,
                "event_type": self.event_type,
                "schema_version": self.schema_version,
                "event_ts": self.event_ts_ms,
            }
        )


def _event(
    payload: Payload,
    *,
    user_id: str,
    device_id: str,
    client: ClientInfo,
    event_ts: datetime | int | None,
    event_id: str | None,
    sent_at: datetime | int | None,
    consent: Consent | None,
) -> Event:
    ts = to_ms(event_ts)
    return Event(
        event_id=event_id or str(uuid.uuid4()),
        user_id=user_id,
        device_id=device_id,
        client=client,
        payload=payload,
        event_ts_ms=ts if ts is not None else now_ms(),
        sent_at_ms=to_ms(sent_at),
        consent=consent,
    )


def video_paused(
    *,
    user_id: str,
    device_id: str,
    client: ClientInfo,
    video_id: str,
    position_ms: int,
    video_duration_ms: int | None = None,
    playback_rate: float | None = None,
    event_ts: datetime | int | None = None,
    event_id: str | None = None,
    sent_at: datetime | int | None = None,
    consent: Consent | None = None,
) -> Event:
    """A VideoPaused event; ``event_ts`` defaults to now and ``event_id`` to a new UUID4.

    ``consent`` None leaves it to the publisher's default (``EventPublisher.set_consent``)."""
    return _event(
        VideoPaused(video_id, position_ms, video_duration_ms, playback_rate),
        user_id=user_id,
        device_id=device_id,
        client=client,
        event_ts=event_ts,
        event_id=event_id,
        sent_at=sent_at,
        consent=consent,
    )


def thumbnail_clicked(
    *,
    user_id: str,
    device_id: str,
    client: ClientInfo,
    video_id: str,
    impression_id: str,
    surface: str,
    slot: int,
    rank: int,
    recommendation_request_id: str | None = None,
    thumbnail_variant: str | None = None,
    event_ts: datetime | int | None = None,
    event_id: str | None = None,
    sent_at: datetime | int | None = None,
    consent: Consent | None = None,
) -> Event:
    """A ThumbnailClicked event; ``event_ts`` defaults to now and ``event_id`` to a new UUID4.

    ``consent`` None leaves it to the publisher's default (``EventPublisher.set_consent``)."""
    return _event(
        ThumbnailClicked(video_id, impression_id, surface, slot, rank, recommendation_request_id, thumbnail_variant),
        user_id=user_id,
        device_id=device_id,
        client=client,
        event_ts=event_ts,
        event_id=event_id,
        sent_at=sent_at,
        consent=consent,
    )


def thumbnails_shown(
    *,
    user_id: str,
    device_id: str,
    client: ClientInfo,
    request_id: str,
    surface: str,
    items: Iterable[ShownThumbnail],
    model_version: str | None = None,
    experiment_ids: Iterable[str] = (),
    exploration: Exploration | None = None,
    event_ts: datetime | int | None = None,
    event_id: str | None = None,
    sent_at: datetime | int | None = None,
    consent: Consent | None = None,
) -> Event:
    """A ThumbnailsShown event (contract 1.3): one per rendered row, one item per thumbnail.

    Each item's ``impression_id`` is what a click on that thumbnail carries
    (``thumbnail_clicked(impression_id=..., recommendation_request_id=request_id)``), so a click
    joins to what was shown. ``event_ts`` defaults to now and ``event_id`` to a new UUID4;
    ``consent`` None leaves it to the publisher's default (``EventPublisher.set_consent``)."""
    return _event(
        ThumbnailsShown(request_id, surface, tuple(items), model_version, tuple(experiment_ids), exploration),
        user_id=user_id,
        device_id=device_id,
        client=client,
        event_ts=event_ts,
        event_id=event_id,
        sent_at=sent_at,
        consent=consent,
    )


def encode_event(event: Event, sent_at_ms: int | None = None) -> bytes:
    """Check ``event`` against the contract and return its Avro bytes.

    Raises ``contract.ContractError`` with a readable message: the caller learns of a
    malformed event at the call site, before anything is sent.
    """
    contract.check_envelope(event.event_id, event.event_type, event.payload.event_type)
    record = event.to_record(sent_at_ms)
    contract.validate_record(record, event.schema_version)
    return contract.encode(record, event.schema_version)
