"""Small helpers shared by tests: sample events and pulling everything from a subscription."""

from __future__ import annotations

import time

from google.api_core.exceptions import DeadlineExceeded
from google.cloud import pubsub_v1

from clickstream.core.config import Settings
from clickstream.core.pubsub_clients import subscriber_client
from emitters.events import ClientInfo, Event, thumbnail_clicked, video_paused

CLIENT = ClientInfo(platform="web", app_version="6.1.0", user_agent="Mozilla/5.0 (X11; Linux x86_64)")


def sample_paused(**overrides: object) -> Event:
    fields: dict[str, object] = dict(
        user_id="u-test",
        device_id="d-test",
        client=CLIENT,
        video_id="vid-000001",
        position_ms=61_000,
        video_duration_ms=300_000,
        playback_rate=1.0,
    )
    fields.update(overrides)
    return video_paused(**fields)  # type: ignore[arg-type]


def sample_click(**overrides: object) -> Event:
    fields: dict[str, object] = dict(
        user_id="u-test",
        device_id="d-test",
        client=CLIENT,
        video_id="vid-000002",
        impression_id="imp-1",
        surface="home",
        slot=2,
        rank=3,
    )
    fields.update(overrides)
    return thumbnail_clicked(**fields)  # type: ignore[arg-type]


def pull_all(
    settings: Settings,
    subscription: str | None = None,
    expect: int | None = None,
    idle_s: float = 3.0,
    timeout_s: float = 60.0,
    ack: bool = True,
) -> list[pubsub_v1.types.ReceivedMessage]:
    """Pull until ``expect`` messages arrived, or nothing came for ``idle_s``."""
    subscriber = subscriber_client(settings)
    path = subscription or settings.subscription_path
    received: list[pubsub_v1.types.ReceivedMessage] = []
    deadline = time.monotonic() + timeout_s
    last = time.monotonic()
    try:
        while time.monotonic() < deadline:
            if expect is not None and len(received) >= expect:
                break
            try:
                response = subscriber.pull(request={"subscription": path, "max_messages": 500}, timeout=5)
            except DeadlineExceeded:
                response = pubsub_v1.types.PullResponse()
            if response.received_messages:
                received.extend(response.received_messages)
                last = time.monotonic()
                if ack:
                    subscriber.acknowledge(
                        request={"subscription": path, "ack_ids": [m.ack_id for m in response.received_messages]}
                    )
            elif expect is None and time.monotonic() - last > idle_s:
                break
            else:
                time.sleep(0.1)
    finally:
        subscriber.close()
    return received
