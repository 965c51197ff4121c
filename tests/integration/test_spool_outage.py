"""Broker down: the emitter spools to disk and drains once Pub/Sub is back.

These tests run their own Pub/Sub emulator (not the shared stack) because they kill it. The
publishers reach it through a gate (``tests.support.tcp_gate``) that stays shut until the
restarted emulator is provisioned again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from clickstream.app import provisioning
from clickstream.app.local import processes, services
from clickstream.core.config import Settings
from emitters.publisher import EventPublisher, PublisherConfig
from emitters.simulator import Simulator, TrafficProfile
from tests.support.events import pull_all, sample_paused
from tests.support.spool_faults import make_read_only
from tests.support.tcp_gate import TcpGate

pytestmark = pytest.mark.integration

# Longer than the drain's longest wait between tries (``DRAIN_BACKOFF``) and than gRPC's own
# reconnect backoff (up to 2.4 s), so a drain that can reach the emulator while it is being
# provisioned lands in the gap. With the gate opened before provisioning, 1.5 s failed one of
# the three tests it guards, and 3 s all three.
PROVISIONING_GAP_S = 3.0
DRAIN_BACKOFF = {"max_drain_backoff_s": 1.0}


@dataclass
class Broker:
    """The test's own emulator, and the gate its publishers reach it through."""

    settings: Settings  # straight to the emulator: provisioning and pulls
    gate: TcpGate

    def publisher_config(self, **overrides: float) -> PublisherConfig:
        via_gate = replace(self.settings, pubsub_emulator_host=self.gate.address)
        return PublisherConfig.from_settings(via_gate, **{**DRAIN_BACKOFF, **overrides})

    def go_down(self) -> None:
        self.gate.shut()
        services.stop_service(self.settings, "pubsub")
        assert not services.service_state(self.settings, "pubsub").running

    def come_back(self, gap_s: float = PROVISIONING_GAP_S) -> None:
        """Start the emulator, provision it again (it kept nothing), and only then let publishers in.

        ``gap_s``: a pause between creating the events topic and its subscription. An event
        published in that gap goes to a topic nobody subscribes to, and is gone; the pause
        makes a test that lets publishers in too early fail nearly every run, not once in many."""
        services.start_service(self.settings, "pubsub")
        provisioning.ensure_schema(self.settings)
        provisioning.ensure_event_topic(self.settings)
        time.sleep(gap_s)
        provisioning.ensure_topics_and_subscriptions(self.settings)
        self.gate.open()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    settings = Settings.from_env(
        state_dir=tmp_path / "own-stack",
        pubsub_port=processes.free_port(),
        pubsub_emulator_host=None,
        bigquery_endpoint=None,
    ).with_local_endpoints()
    gate = TcpGate(settings.pubsub_port)
    broker = Broker(settings, gate)
    try:
        broker.come_back(gap_s=0)  # no publisher yet
        yield broker
    finally:
        gate.shut()
        services.stop_service(settings, "pubsub")


def test_outage_spools_then_drains_every_event_exactly_once(broker: Broker) -> None:
    settings = broker.settings
    emissions = list(
        e
        for e, _ in zip(
            Simulator(
                TrafficProfile(rate=100, session_gap_s=30, seed=9, duplicates=0.05), start_ms=int(time.time() * 1000)
            ).emissions(),
            range(300),
            strict=False,
        )
    )
    before, during = emissions[:100], emissions[100:]
    publisher = EventPublisher(broker.publisher_config(publish_deadline_s=3.0))

    for e in before:
        publisher.publish(e.event)
    assert publisher.flush(timeout=30).delivered == 100
    received_before = pull_all(settings, expect=100)

    broker.go_down()
    outage_started = time.monotonic()
    for e in during:
        publisher.publish(e.event)
    report = publisher.flush(timeout=60)
    assert report.delivered == 100
    assert report.spool_depth == 200, report  # nothing lost, nothing in memory
    assert publisher.degraded

    broker.come_back()
    print(f"outage lasted {time.monotonic() - outage_started:.1f}s with 200 events spooled")
    report = publisher.flush(timeout=120, drain=True)
    publisher.close(timeout=30)
    assert report.spool_depth == 0 and report.drained == 200 and report.rejected == 0 and report.lost == 0

    received_after = pull_all(settings, expect=200)
    ids = [m.message.attributes["event_id"] for m in received_before + received_after]
    sent = [e.event.event_id for e in emissions]
    # Exactly the sent multiset: every event once, plus the duplicates the simulator asked for.
    assert sorted(ids) == sorted(sent)
    duplicates_asked = sum(1 for e in emissions if e.kind == "duplicate")
    assert len(ids) - len(set(ids)) == duplicates_asked


def test_spool_survives_a_publisher_restart(broker: Broker, tmp_path: Path) -> None:
    settings = broker.settings
    events = [
        e.event
        for e, _ in zip(
            Simulator(TrafficProfile(rate=50, session_gap_s=30, seed=10), start_ms=int(time.time() * 1000)).emissions(),
            range(40),
            strict=False,
        )
    ]
    broker.go_down()
    first = EventPublisher(broker.publisher_config(publish_deadline_s=2.0))
    for event in events:
        first.publish(event)
    report = first.close(timeout=60)
    assert report.spool_depth == 40  # close() waited for delivery or spool

    broker.come_back()
    second = EventPublisher(broker.publisher_config(publish_deadline_s=5.0))
    report = second.close(timeout=120, drain=True)
    assert report.drained == 40 and report.spool_depth == 0
    assert sorted(m.message.attributes["event_id"] for m in pull_all(settings, expect=40)) == sorted(
        e.event_id for e in events
    )


def test_a_spooled_event_the_topic_rejects_is_counted_once(broker: Broker) -> None:
    """Both balances of the report hold when the drain finds an event the topic refuses."""
    settings = broker.settings
    rejected: list[str] = []
    good = [sample_paused() for _ in range(5)]
    broker.go_down()
    publisher = EventPublisher(
        broker.publisher_config(publish_deadline_s=2.0),
        on_rejected=lambda event_id, _: rejected.append(event_id),
    )
    for event in good[:2]:
        publisher.publish(event)
    publisher.publish_encoded(b"\x02not avro at all\xff", {"event_id": "bad-1"})
    for event in good[2:]:
        publisher.publish(event)
    report = publisher.flush(timeout=60)
    assert (report.spooled, report.spool_depth, report.pending) == (6, 6, 0), report

    broker.come_back()
    report = publisher.close(timeout=120, drain=True)
    assert (report.drained, report.rejected, report.rejected_from_spool, report.spool_depth) == (5, 1, 1, 0), report
    assert report.rejected_on_publish == 0 and report.imbalances() == [], report
    assert rejected == ["bad-1"] and report.rejections[0][0] == "bad-1"
    assert sorted(m.message.attributes["event_id"] for m in pull_all(settings, expect=5)) == sorted(
        e.event_id for e in good
    )


def test_the_drain_survives_a_spool_error_and_sends_nothing_twice(
    broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 11, item 3c: an unexpected SQLite error killed the drain thread, and the publisher
    stayed degraded for good. Here the spool cannot be written when the drain has sent a batch
    and goes to remove it; once it can again, the batch is removed, not sent again."""
    settings = broker.settings
    events = [sample_paused() for _ in range(10)]
    broker.go_down()
    publisher = EventPublisher(broker.publisher_config(publish_deadline_s=2.0))
    try:
        for event in events:
            publisher.publish(event)
        assert publisher.flush(timeout=60).spool_depth == 10
        make_read_only(publisher._spool)

        broker.come_back()
        sent = pull_all(settings, expect=10)  # the drain sent the batch, and could not remove it
        assert sorted(m.message.attributes["event_id"] for m in sent) == sorted(e.event_id for e in events)
        assert publisher.report().spool_depth == 10

        make_read_only(publisher._spool, False)
        report = publisher.flush(timeout=60, drain=True)
        assert (report.drained, report.spool_depth) == (10, 0), report
        assert report.imbalances() == [], report
        logged = "\n".join(r.getMessage() + "\n" + (r.exc_text or "") for r in caplog.records if r.levelname == "ERROR")
        assert "attempt to write a readonly database" in logged
    finally:
        publisher.close(timeout=30)
    assert pull_all(settings, idle_s=5, timeout_s=15) == []  # removed, not sent a second time
