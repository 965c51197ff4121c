"""EventPublisher's report while the broker is down: every accepted event is accounted for."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from clickstream.app.local.processes import free_port
from emitters.events import encode_event
from emitters.publisher import EventPublisher, PublisherConfig, PublishReport, SpoolFullError
from emitters.spool import DiskSpool
from tests.support.events import sample_paused
from tests.support.spool_faults import broker_down_config, fill_the_disk


def test_an_event_refused_by_a_full_spool_is_not_counted_as_accepted(tmp_path: Path) -> None:
    """Issue 11, item 4: publish raised SpoolFullError after counting the event as accepted."""
    down = f"127.0.0.1:{free_port()}"  # nothing listens: a broker that is down
    config = PublisherConfig(
        topic_path="projects/p/topics/t",
        spool_path=tmp_path / "spool.sqlite",
        pubsub_emulator_host=down,
        publish_deadline_s=0.5,
        spool_max_messages=2,
        max_drain_backoff_s=30.0,
    )
    publisher = EventPublisher(config)
    try:
        publisher.publish(sample_paused())
        deadline = time.monotonic() + 30
        while publisher.report().spooled < 1 and time.monotonic() < deadline:
            time.sleep(0.1)  # the first publish fails after its deadline and is spooled
        assert publisher.report().spooled == 1
        publisher.publish(sample_paused())  # spooled behind it: the spool now holds 2
        with pytest.raises(SpoolFullError):
            publisher.publish(sample_paused())
        report = publisher.report()
        assert (report.accepted, report.spooled, report.delivered, report.lost) == (2, 2, 0, 0), report
    finally:
        publisher.close(timeout=5)


def test_disk_full_while_spooling_counts_the_event_as_lost(tmp_path: Path) -> None:
    """Issue 11, item 1: a disk-full SQLite error escaped the publish callback, so the event
    was counted nowhere and flush() waited for it until its timeout."""
    publisher = EventPublisher(broker_down_config(tmp_path))
    try:
        fill_the_disk(publisher._spool)
        events = [sample_paused() for _ in range(40)]
        for event in events:  # all in flight before the first one fails (publish_deadline_s)
            publisher.publish(event)
        report = publisher.flush(timeout=30)
        assert report.lost > 0 and report.spooled > 0, report
        assert report.accepted == 40 == report.delivered + report.spooled + report.lost + report.rejected, report
        assert report.spool_depth == report.spooled
        lost = {event_id for event_id, reason in report.rejections if "disk is full" in reason}
        assert len(lost) == report.lost and lost <= {e.event_id for e in events}
    finally:
        publisher.close(timeout=5)


def test_close_during_an_outage_spools_what_is_still_in_flight(tmp_path: Path) -> None:
    """Issue 11, item 2: close(timeout) closed the spool under publishes still in flight; their
    callbacks hit a closed database and the report said accepted=3, delivered=0, spooled=0, lost=0."""
    config = broker_down_config(tmp_path)
    publisher = EventPublisher(config)
    events = [sample_paused() for _ in range(3)]
    for event in events:
        publisher.publish(event)
    report = publisher.close(timeout=0.1)  # long before the publish deadline runs out
    assert (report.accepted, report.delivered, report.spooled, report.lost) == (3, 0, 3, 0), report
    assert report.pending == 0 and report.imbalances() == [], report
    spool = DiskSpool(config.spool_path)
    try:
        assert sorted(m.attributes["event_id"] for m in spool.peek(10)) == sorted(e.event_id for e in events)
    finally:
        spool.close()


def test_every_report_balances_while_events_fail_spool_and_get_lost(tmp_path: Path) -> None:
    """accepted == delivered + spooled + lost + rejected on publish + pending, in every snapshot,
    also the ones taken while publishes are in flight and the disk is full."""
    publisher = EventPublisher(broker_down_config(tmp_path))
    snapshots: list[PublishReport] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            snapshots.append(publisher.report())
            time.sleep(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        fill_the_disk(publisher._spool)
        for _ in range(40):
            publisher.publish(sample_paused())
        final = publisher.close(timeout=0.1)
    finally:
        stop.set()
        sampler.join()
    snapshots.append(final)
    assert final.pending == 0 and final.lost > 0 and final.spooled > 0, final
    assert any(s.pending for s in snapshots), "no snapshot caught an event in flight"
    for snapshot in snapshots:
        assert snapshot.accepted == (
            snapshot.delivered + snapshot.spooled + snapshot.lost + snapshot.rejected_on_publish + snapshot.pending
        ), snapshot
        assert snapshot.imbalances() == [], snapshot


def test_a_publisher_starts_on_a_corrupt_spool_file(tmp_path: Path) -> None:
    """Issue 11, item 3a: the publisher could not start; now the file is set aside."""
    config = broker_down_config(tmp_path)
    config.spool_path.write_bytes(b"\x00garbage" * 1000)
    publisher = EventPublisher(config)
    report = publisher.close(timeout=5)
    assert report.inherited == 0 and report.imbalances() == []
    assert [p.name.split(".corrupt-")[0] for p in tmp_path.iterdir() if ".corrupt-" in p.name] == ["spool.sqlite"]


def test_publish_blocks_while_max_in_flight_messages_are_pending(tmp_path: Path) -> None:
    """Flow control bounds memory while the broker is slow: no report ever shows more events in
    flight than ``max_in_flight_messages``; the third publish waits until one of the first two
    has settled (here: failed and been spooled)."""
    publisher = EventPublisher(broker_down_config(tmp_path, publish_deadline_s=0.5, max_in_flight_messages=2))
    try:
        in_flight = []
        for _ in range(5):
            publisher.publish(sample_paused())
            in_flight.append(publisher.report().pending)
        assert max(in_flight) <= 2, in_flight
        report = publisher.flush(timeout=30)
        assert (report.accepted, report.spooled, report.pending) == (5, 5, 0), report
    finally:
        publisher.close(timeout=5)


def test_publish_blocks_while_max_in_flight_bytes_are_pending(tmp_path: Path) -> None:
    """The byte bound too: with room for one event's bytes, the second waits for the first."""
    first = sample_paused()
    size = len(encode_event(first, sent_at_ms=1))
    # 3 s to fail: the first must still be pending when the test looks, however loaded the machine.
    config = broker_down_config(tmp_path, publish_deadline_s=3.0, max_in_flight_bytes=size + size // 2)
    publisher = EventPublisher(config)
    try:
        publisher.publish(first)
        assert publisher.report().pending == 1
        publisher.publish(sample_paused())  # waits until the first is spooled
        report = publisher.report()
        assert report.spooled >= 1 and report.pending <= 1, report
        assert publisher.flush(timeout=30).spooled == 2
    finally:
        publisher.close(timeout=5)
