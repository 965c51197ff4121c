"""Emitters against the real Pub/Sub emulator: round trip, rejection, dead-lettering."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from clickstream.app import provisioning
from clickstream.core import contract
from clickstream.core.config import Settings
from clickstream.core.pubsub_clients import publisher_client, subscriber_client
from emitters.events import Consent, Exploration, ShownThumbnail, encode_event, thumbnails_shown
from emitters.publisher import EventPublisher, PublisherConfig, PublishRejectedError
from tests.support.events import CLIENT, pull_all, sample_click, sample_paused

pytestmark = pytest.mark.integration


def _publisher(settings: Settings, **overrides: object) -> EventPublisher:
    return EventPublisher(PublisherConfig.from_settings(settings, **overrides))


def test_round_trip_publish_pull_decode(fresh_topic: Settings) -> None:
    events = [sample_paused(position_ms=1000 * i) for i in range(20)] + [sample_click(slot=i + 1) for i in range(5)]
    with _publisher(fresh_topic) as publisher:
        for event in events:
            publisher.publish(event)
        report = publisher.flush(timeout=30)
    assert report.delivered == 25 and report.rejected == 0 and report.spool_depth == 0

    received = pull_all(fresh_topic, expect=25)
    by_id = {m.message.attributes["event_id"]: m.message for m in received}
    assert set(by_id) == {e.event_id for e in events}
    for event in events:
        message = by_id[event.event_id]
        attrs = dict(message.attributes)
        assert attrs["event_type"] == event.event_type
        assert attrs["schema_version"] == contract.current_version()
        assert attrs["event_ts"] == str(event.event_ts_ms)
        # The topic validated the bytes against the Avro schema and says which revision matched.
        assert attrs["googclient_schemaencoding"] == "BINARY"
        decoded = contract.decode(message.data, attrs["schema_version"])
        assert decoded["event_id"] == event.event_id
        assert decoded["payload"][1] == event.payload.to_record()
        assert decoded["sent_at"] >= event.event_ts_ms  # stamped by the publisher at send time


@pytest.mark.parametrize("previous", ["1.0", "1.1", "1.2"])
def test_topic_accepts_events_written_under_earlier_revisions(fresh_topic: Settings, previous: str) -> None:
    record = sample_paused().to_record()
    record["schema_version"] = previous
    if previous != "1.2":
        record.pop("consent")  # added in 1.2
    if previous == "1.0":
        record["client"].pop("locale")  # added in 1.1
    data = contract.encode(record, previous)
    with _publisher(fresh_topic) as publisher:
        publisher.publish_encoded(data, {"event_id": record["event_id"], "schema_version": previous})
        report = publisher.flush(timeout=30)
    assert report.delivered == 1, report
    (message,) = pull_all(fresh_topic, expect=1)
    decoded = contract.decode(message.message.data, previous)
    assert decoded["consent"] is None
    if previous == "1.0":
        assert decoded["client"]["locale"] is None


def test_the_topic_schema_accepts_thumbnails_shown_rows_of_1_3(fresh_topic: Settings) -> None:
    """Contract 1.3 appended ThumbnailsShown: the topic (every revision committed) validates it,
    next to a click on one of its thumbnails, and both decode with the join keys intact."""
    items = [ShownThumbnail(f"vid-{slot:06d}", f"imp-{slot}", slot=slot, rank=slot) for slot in range(1, 13)]
    items[0] = replace(items[0], row=1, col=1, visible_ms=950)
    who = {"user_id": "u-1", "device_id": "d-1", "client": CLIENT}
    rows = [
        thumbnails_shown(**who, request_id="req-1", surface="home", items=items),
        thumbnails_shown(
            **who,
            request_id="req-2",
            surface="up_next",
            items=items[:4],
            model_version="ranker-7",
            experiment_ids=["exp-a"],
            exploration=Exploration("swap_first", swapped_rank=4, propensity=0.0125),
        ),
    ]
    click = sample_click(impression_id="imp-3", slot=3, rank=3, recommendation_request_id="req-1")
    with _publisher(fresh_topic) as publisher:
        for event in [*rows, click]:
            publisher.publish(event)
        report = publisher.flush(timeout=30)
    assert report.delivered == 3 and report.rejected == 0, report

    decoded = {}
    for message in pull_all(fresh_topic, expect=3):
        attrs = dict(message.message.attributes)
        assert attrs["schema_version"] == "1.3" and attrs["googclient_schemaencoding"] == "BINARY"
        decoded[attrs["event_id"]] = contract.decode(message.message.data, attrs["schema_version"])
    for row in rows:
        assert decoded[row.event_id]["payload"] == ("io.clickstream.v1.ThumbnailsShown", row.payload.to_record())
    shown = dict(decoded[rows[0].event_id]["payload"][1]["items"][2])
    clicked = decoded[click.event_id]["payload"][1]
    assert (clicked["impression_id"], clicked["recommendation_request_id"]) == (shown["impression_id"], "req-1")


def test_schema_invalid_message_is_rejected_and_surfaced_while_neighbours_get_through(
    fresh_topic: Settings,
) -> None:
    rejected: list[tuple[str, BaseException]] = []
    good = [sample_click() for _ in range(5)]
    # A long batch latency puts the bad message in the same batch as the good ones:
    # Pub/Sub fails the whole batch, and the publisher must isolate the culprit.
    publisher = EventPublisher(
        PublisherConfig.from_settings(fresh_topic, max_latency_s=0.5),
        on_rejected=lambda event_id, exc: rejected.append((event_id, exc)),
    )
    for event in good[:3]:
        publisher.publish(event)
    publisher.publish_encoded(b"\x02not avro at all\xff", {"event_id": "bad-1"})
    for event in good[3:]:
        publisher.publish(event)
    report = publisher.close(timeout=60)

    assert report.rejected == 1
    assert report.delivered == 5
    assert [event_id for event_id, _ in rejected] == ["bad-1"]
    assert "InvalidArgument" in report.rejections[0][1]
    with pytest.raises(PublishRejectedError, match="bad-1"):
        report.raise_for_rejections()
    received = pull_all(fresh_topic, expect=5)
    assert {m.message.attributes["event_id"] for m in received} == {e.event_id for e in good}


def test_dead_letter_policy_moves_a_message_nacked_five_times(fresh_topic: Settings) -> None:
    event = sample_paused()
    publisher = publisher_client(fresh_topic)
    publisher.publish(fresh_topic.topic_path, encode_event(event), event_id=event.event_id).result(timeout=30)

    subscriber = subscriber_client(fresh_topic)
    attempts: list[int] = []
    dead: list = []
    deadline = time.monotonic() + 120
    try:
        # The emulator forwards to the dead-letter topic when the 6th delivery would happen,
        # so keep pulling (and nacking) until the message shows up there.
        while not dead and time.monotonic() < deadline:
            for path in (fresh_topic.subscription_path, fresh_topic.dead_letter_subscription_path):
                response = subscriber.pull(
                    request={"subscription": path, "max_messages": 10, "return_immediately": True}, timeout=10
                )
                for received in response.received_messages:
                    if path == fresh_topic.subscription_path:
                        attempts.append(received.delivery_attempt)
                        subscriber.modify_ack_deadline(
                            request={
                                "subscription": path,
                                "ack_ids": [received.ack_id],
                                "ack_deadline_seconds": 0,
                            }
                        )  # nack
                    else:
                        dead.append(received)
                        subscriber.acknowledge(request={"subscription": path, "ack_ids": [received.ack_id]})
            time.sleep(0.3)
    finally:
        subscriber.close()
    assert attempts == [1, 2, 3, 4, 5]
    assert len(dead) == 1
    attributes = dict(dead[0].message.attributes)
    assert attributes["event_id"] == event.event_id
    assert attributes["CloudPubSubDeadLetterSourceDeliveryCount"] == "5"
    assert contract.decode(dead[0].message.data, contract.current_version())["event_id"] == event.event_id
    # And it is gone from the pipeline's subscription.
    assert pull_all(fresh_topic, idle_s=2, timeout_s=15) == []


def test_missing_topic_keeps_events_in_the_spool_not_dropped(fresh_topic: Settings) -> None:
    """A missing topic is a configuration error, not the event's fault: nothing is discarded."""
    missing = replace(fresh_topic, topic=f"{fresh_topic.topic}-later", subscription=f"{fresh_topic.subscription}-later")
    event = sample_paused()
    publisher = _publisher(missing, publish_deadline_s=3)
    publisher.publish(event)
    report = publisher.flush(timeout=30)
    assert report.delivered == 0 and report.rejected == 0 and report.spool_depth == 1
    assert publisher.degraded

    assert publisher.close(timeout=30).spool_depth == 1  # kept on disk, not dropped

    # Once the topic (and a subscription to see it) exists, the next publisher drains it.
    provisioning.ensure_topics_and_subscriptions(missing)
    report = _publisher(missing).close(timeout=60, drain=True)
    assert report.drained == 1 and report.spool_depth == 0
    assert [m.message.attributes["event_id"] for m in pull_all(missing, expect=1)] == [event.event_id]


def test_emit_command_plays_traffic_and_reports_per_kind(fresh_topic: Settings) -> None:
    from typer.testing import CliRunner

    from clickstream.app.cli import app

    env = {
        "PUBSUB_EMULATOR_HOST": fresh_topic.pubsub_emulator_host,
        "CLICKSTREAM_TOPIC": fresh_topic.topic,
        "CLICKSTREAM_STATE_DIR": str(fresh_topic.state_dir),
    }
    result = CliRunner().invoke(
        app,
        [
            "emit",
            "--events",
            "120",
            "--rate",
            "200",
            "--session-gap",
            "10",
            "--seed",
            "4",
            "--duplicates",
            "0.1",
            "--invalid",
            "0.05",
        ],
        env=env,
    )
    assert result.exit_code == 0, result.output
    assert "sent 120 events" in result.output
    assert "duplicate" in result.output and "bytes/event" in result.output
    received = pull_all(fresh_topic, expect=120)
    assert len(received) == 120


def test_oversized_message_is_a_clear_error_at_the_call_site(fresh_topic: Settings) -> None:
    from google.cloud.pubsub_v1.publisher.exceptions import MessageTooLargeError

    with _publisher(fresh_topic) as publisher:
        with pytest.raises(MessageTooLargeError):
            publisher.publish_encoded(b"x" * (11 * 1024 * 1024), {"event_id": "huge"})
        publisher.publish(sample_paused())
        report = publisher.flush(timeout=30)  # does not wait for the refused message
    assert report.accepted == 1 and report.delivered == 1


def test_a_publisher_stamps_its_consent_default_on_events_without_one(fresh_topic: Settings) -> None:
    """The consent banner is answered once; every later event of that person carries it, an event's
    own consent wins, and events published before the answer carry none (consent_default decides)."""
    granted = Consent(analytics=True, personalization=True, policy_version="2026-05")
    own = Consent(analytics=True, personalization=False, policy_version="2026-05")
    before, after, explicit = sample_paused(), sample_paused(), sample_click(consent=own)
    with _publisher(fresh_topic) as publisher:
        assert publisher.consent is None
        publisher.publish(before)
        publisher.set_consent(granted)
        publisher.publish(after)
        publisher.publish(explicit)
        report = publisher.flush(timeout=30)
    assert report.delivered == 3 and report.rejected == 0, report
    decoded = {
        m.message.attributes["event_id"]: contract.decode(m.message.data, m.message.attributes["schema_version"])
        for m in pull_all(fresh_topic, expect=3)
    }
    assert decoded[before.event_id]["consent"] is None
    assert decoded[after.event_id]["consent"] == granted.to_record()
    assert decoded[explicit.event_id]["consent"] == own.to_record()


def test_an_event_bigger_than_max_in_flight_bytes_is_delivered_not_spooled_as_an_outage(
    fresh_topic: Settings,
) -> None:
    """Flow control failed such an event with FlowControlLimitError, which the publisher took for
    a broker outage: it spooled the event and went degraded while Pub/Sub was fine. An event
    that alone exceeds the byte bound now goes when nothing else is in flight."""
    event = sample_paused()
    with _publisher(fresh_topic, max_in_flight_bytes=10) as publisher:
        publisher.publish(event)
        report = publisher.flush(timeout=30)
        assert (report.delivered, report.spooled, report.lost) == (1, 0, 0), report
        assert not publisher.degraded
    assert [m.message.attributes["event_id"] for m in pull_all(fresh_topic, expect=1)] == [event.event_id]
