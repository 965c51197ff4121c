"""Local streaming runs: bigger Pub/Sub pulls for the local runner, against the real emulator."""

from __future__ import annotations

import pytest

from clickstream.app import provisioning
from clickstream.app.local import pull_size
from clickstream.core.config import Settings
from clickstream.core.pubsub_clients import publisher_client
from emitters.events import encode_event
from tests.support.events import sample_paused

pytestmark = pytest.mark.integration


def test_the_local_runners_pulls_take_up_to_500_messages(stack: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from apache_beam.runners.direct.transform_evaluator import _PubSubReadEvaluator

    settings = stack.isolated("pull", own_dataset=False)
    provisioning.ensure_schema(settings)
    provisioning.ensure_topics_and_subscriptions(settings)
    publisher = publisher_client(settings)
    events = [sample_paused() for _ in range(120)]
    for event in events:
        publisher.publish(settings.topic_path, encode_event(event), **event.attributes()).result(timeout=30)
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", settings.pubsub_emulator_host)
    monkeypatch.setattr(
        _PubSubReadEvaluator, "_get_subscriber_client", _PubSubReadEvaluator.__dict__["_get_subscriber_client"]
    )

    class Transform:  # the runner caches one client per transform, weakly keyed
        pass

    assert pull_size.enable()
    transform = Transform()  # kept alive: its finalizer closes the client
    client = _PubSubReadEvaluator._get_subscriber_client(transform)
    received, sizes = [], []
    for _ in range(5):  # the emulator may hand out a first pull before all are ready
        # Exactly the call the runner makes (transform_evaluator._read_from_pubsub).
        response = client.pull(subscription=settings.subscription_path, max_messages=10, timeout=30)
        received += response.received_messages
        sizes.append(len(response.received_messages))
        if len(received) >= len(events):
            break
    assert len(received) == len(events)
    assert max(sizes) > 10, sizes  # more than the runner's own 10 in one pull
    assert pull_size.supported("2.77.0") and not pull_size.supported("2.78.0")
