"""Replay from a Pub/Sub subscription (``--input pubsub://projects/P/subscriptions/S``) against the
real emulator: pull until empty, acknowledge only after the pipeline has written, and let the
subscription's dead-letter policy take what keeps failing."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import pytest

from clickstream.app import provisioning
from clickstream.core.config import Settings
from clickstream.core.pubsub_clients import publisher_client
from emitters.events import encode_event
from pipelines import replay
from tests.support.events import pull_all, sample_paused
from tests.support.warehouse_seeds import write_catalog

pytestmark = pytest.mark.integration

ACK_DEADLINE_S = 10  # Pub/Sub's shortest: a message leased and not acknowledged is back after it


@pytest.fixture
def subscription(stack: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A topic, its subscription (dead-letter policy: 5 attempts) and the dead-letter topic's."""
    settings = replace(stack.isolated("pull", own_dataset=False), ack_deadline_s=ACK_DEADLINE_S)
    provisioning.ensure_topics_and_subscriptions(settings)
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", settings.pubsub_emulator_host or "")
    return settings


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_catalog(tmp_path_factory.mktemp("catalog") / "catalog.jsonl", 10)


def _publish(settings: Settings, n: int) -> set[str]:
    publisher = publisher_client(settings)
    events = [sample_paused(user_id=f"u-{i}") for i in range(n)]
    futures = [publisher.publish(settings.topic_path, encode_event(e), **e.attributes()) for e in events]
    return {future.result(timeout=60) for future in futures}


def _replay(settings: Settings, subscription_path: str, out: Path, catalog: Path) -> dict[str, list[dict]]:
    requests = catalog.parent / "deletion_requests.jsonl"  # offline: nobody forgotten
    requests.write_text("")
    replay.run(
        [
            f"--input=pubsub://{subscription_path}",
            f"--output_dir={out}",
            f"--catalog_path={catalog}",
            f"--deletion_requests_path={requests}",
            f"--project={settings.project}",
            f"--pseudonym_key={settings.pseudonym_key_source}",
        ]
    )
    return {
        name: [json.loads(line) for line in (out / f"{name}.jsonl").read_text().splitlines()]
        for name in ("events", "dead_letters", "duplicates")
    }


def test_a_subscription_replays_until_empty_and_is_acknowledged_after_the_write(
    subscription: Settings, catalog: Path, tmp_path: Path
) -> None:
    published = _publish(subscription, 1500)  # more than one pull (1,000 at most) holds

    out = _replay(subscription, subscription.subscription_path, tmp_path / "out", catalog)

    assert {e["message_id"] for e in out["events"]} == published
    assert out["dead_letters"] == out["duplicates"] == []
    # Acknowledged, not just leased: nothing comes back once the ack deadline has passed.
    time.sleep(ACK_DEADLINE_S + 2)
    assert pull_all(subscription, idle_s=3, timeout_s=30) == []


def test_a_failed_replay_hands_the_messages_back_and_pubsub_dead_letters_them_after_five(
    subscription: Settings, catalog: Path, tmp_path: Path
) -> None:
    published = _publish(subscription, 3)
    unwritable = tmp_path / "a-file"
    unwritable.write_text("the output folder cannot be created under a file\n")

    for _ in range(5):  # the subscription's max_delivery_attempts
        with pytest.raises(Exception):  # noqa: B017 - whatever the writer raises, the run failed
            _replay(subscription, subscription.subscription_path, unwritable / "out", catalog)

    # Five deliveries, none acknowledged: Pub/Sub moved the messages to the dead-letter topic.
    after = _replay(subscription, subscription.subscription_path, tmp_path / "after", catalog)
    assert after["events"] == []
    recovered = _replay(subscription, subscription.dead_letter_subscription_path, tmp_path / "recovered", catalog)
    assert len(recovered["events"]) == len(published) == 3
    assert recovered["dead_letters"] == []
