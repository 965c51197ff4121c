"""The demo's collector sender: simulator events through the real collector, accounted like the publisher."""

from __future__ import annotations

import pytest

from clickstream.app.collector_client import CollectorSender
from clickstream.core import contract
from clickstream.core.config import Settings
from emitters.simulator import TrafficProfile
from emitters.traffic import play
from tests.support.collector import WRITE_KEY, serving
from tests.support.events import pull_all

pytestmark = pytest.mark.integration


def test_simulated_traffic_through_the_collector_is_published_and_accounted(fresh_topic: Settings) -> None:
    profile = TrafficProfile(rate=1000, seed=3, duplicates=0.05, invalid=0.05, skewed=0.1, session_gap_s=60)
    with serving(fresh_topic) as base:
        sender = CollectorSender(f"{base}/v1/events", WRITE_KEY, batch_size=50)
        summary = play(profile, sender, max_events=230, realtime=False)
        report = sender.close()
    assert summary.sent == 230
    assert (report.accepted, report.delivered, report.rejected, report.lost, report.pending) == (230, 230, 0, 0, 0)
    received = pull_all(fresh_topic, expect=230)
    assert len(received) == 230
    decoded = [contract.decode(m.message.data, m.message.attributes["schema_version"]) for m in received]
    # Duplicates keep their event_id, so the pipeline can drop the repeat.
    assert len({d["event_id"] for d in decoded}) == summary.distinct_events


def test_a_collector_that_refuses_the_key_counts_the_batch_as_lost(fresh_topic: Settings) -> None:
    profile = TrafficProfile(rate=1000, seed=4)
    with serving(fresh_topic) as base:
        sender = CollectorSender(f"{base}/v1/events", "wrong-key", batch_size=10)
        play(profile, sender, max_events=10, realtime=False)
        report = sender.close()
    assert report.lost == 10 and report.delivered == 0
    assert "HTTP 401" in report.rejections[0][1]
