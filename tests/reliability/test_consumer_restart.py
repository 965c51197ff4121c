"""Consumer restart: the local pipeline is killed mid-stream (SIGKILL) and started again.

What to expect, hop by hop: messages published while no pipeline runs wait in the
subscription and are all processed by the new one. The local runner acknowledges a pull
before it processes it, so what the killed pipeline had pulled but not yet written is lost,
and nothing is redelivered. (Dataflow acknowledges only after its checkpoint is durable, so
there the same crash loses nothing and redelivers instead; dedup and insertId absorb it.)
The test prints what was lost and redelivered and holds the local runner to that contract.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from clickstream.core.bigquery_clients import bigquery_client
from clickstream.core.config import Settings
from clickstream.core.ledger import read_ledger
from emitters.simulator import TrafficProfile
from tests.support.reliability import Traffic, column, isolated, simulated, start_pipeline, stored_event_ids_sql

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_restart_loses_only_what_the_killed_pipeline_had_in_flight(stack: Settings, tmp_path: Path) -> None:
    settings = isolated(stack, "restart")
    client = bigquery_client(settings)
    schedule = [
        (due, e)
        for due, e, _ in simulated(
            TrafficProfile(rate=20, session_gap_s=10, seed=61, analytics_denied=0), duration_s=45
        )
    ]

    with start_pipeline(settings, tmp_path, "--session_gap_s=10") as first:
        traffic = Traffic(settings, schedule).start()
        time.sleep(15)
        first.stop(kill=True)
    killed_at = time.monotonic()
    stored_at_kill = read_ledger(client, settings).stored
    time.sleep(5)
    with start_pipeline(settings, tmp_path, "--session_gap_s=10") as second:
        restarted_at = time.monotonic()
        report = traffic.join()
        deadline = time.monotonic() + 120
        previous, still_since = -1, time.monotonic()
        while time.monotonic() < deadline:  # until everything landed, or nothing more lands for 20 s
            now = read_ledger(client, settings)
            if now.accounted >= len(schedule):
                break
            if now.accounted != previous:
                previous, still_since = now.accounted, time.monotonic()
            elif time.monotonic() - still_since > 20:
                break
            assert second.running, second.log_tail()
            time.sleep(2)

    stored = column(client, stored_event_ids_sql(settings))
    sent_before_kill = {e.event_id for at, e in traffic.sent if at < killed_at}
    sent_after_kill = {e.event_id for at, e in traffic.sent if at >= killed_at}
    lost = {e.event_id for _, e in schedule} - set(stored)
    redelivered = len(stored) - len(set(stored))
    print(
        f"\nconsumer restart: {len(schedule)} sent; {len(sent_before_kill)} before the kill "
        f"({stored_at_kill} stored by then), {len(sent_after_kill)} after (the new pipeline started "
        f"{restarted_at - killed_at:.0f}s after the kill); lost {len(lost)} (pulled and acked by the killed "
        f"pipeline, not yet written), redelivered {redelivered}"
    )
    assert report.delivered == len(schedule)
    assert sent_after_kill <= set(stored), "a message published after the crash was lost"
    assert lost <= sent_before_kill
    assert redelivered == 0, "the local runner acks on pull: nothing should come back"
    assert read_ledger(client, settings).redelivered == 0, "a message recorded twice in the ledger"
    assert len(lost) <= 100, f"lost {len(lost)}: more than the runner keeps in flight"
