"""Broker outage: the Pub/Sub emulator is unreachable for 30 s while the emitter runs.

The emulator's process group is frozen (SIGSTOP) and thawed (SIGCONT): to clients that is a
broker that stops answering, the outage the spool is for. It is not killed, because the
emulator keeps messages in memory only: a restart would lose what real Pub/Sub keeps. (A
kill and restart with the subscriber drained first is tests/integration/test_spool_outage.)

End to end: emitter -> emulator -> streaming pipeline -> stand-in. Zero events may be lost,
and every extra delivery must be dropped by dedup, leaving one row per event.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from clickstream.app.local import services
from clickstream.core.bigquery_clients import bigquery_client
from clickstream.core.config import Settings
from emitters.simulator import TrafficProfile
from tests.support.reliability import (
    Traffic,
    isolated,
    simulated,
    start_pipeline,
    wait_until_accounted,
    wait_until_stored,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

OUTAGE_S = 30


def test_thirty_second_broker_outage_loses_and_doubles_nothing(own_stack: Settings, tmp_path: Path) -> None:
    settings = isolated(own_stack, "outage")
    client = bigquery_client(settings)
    emissions = simulated(
        TrafficProfile(rate=10, session_gap_s=10, seed=51, duplicates=0.05, analytics_denied=0), duration_s=60
    )
    schedule = [(due, event) for due, event, _ in emissions]
    injected = sum(1 for *_, kind in emissions if kind == "duplicate")
    emulator = services.service_state(own_stack, "pubsub")
    assert emulator.pid is not None

    with start_pipeline(settings, tmp_path, "--session_gap_s=10") as pipeline:
        traffic = Traffic(settings, schedule, publish_deadline_s=3.0).start()
        time.sleep(10)
        before = traffic.progress()
        os.killpg(emulator.pid, signal.SIGSTOP)
        try:
            time.sleep(OUTAGE_S)
            during = traffic.progress()
        finally:
            os.killpg(emulator.pid, signal.SIGCONT)
        report = traffic.join()
        sent = {event.event_id for _, event in schedule}
        # A pull the frozen emulator answered after the pipeline gave up on it is redelivered
        # once its ack deadline (60 s) passes: wait for the events, not for a message count.
        stored = wait_until_stored(client, settings, sent, 240, pipeline)
        # Every event stored is not every message accounted: an injected duplicate, sent up to
        # 2 s after its event, can still be on its way to the duplicates table.
        final = wait_until_accounted(client, settings, len(schedule), 60, pipeline)
        pipeline_survived = pipeline.running
    extra = final.duplicates - injected
    print(
        f"\nbroker outage {OUTAGE_S}s: {len(schedule)} sent ({injected} duplicates injected); "
        f"delivered {before.delivered} before, {during.spool_depth} spooled during; after: delivered "
        f"{report.delivered}, drained {report.drained} from the spool, lost {report.lost}, rejected {report.rejected}"
        f"\nwarehouse: {final.stored} events for {len(sent)} distinct sent, {len(sent - stored)} lost, "
        f"{final.duplicates} duplicates dropped ({max(extra, 0)} extra deliveries from the outage), "
        f"{final.doubled} duplicate rows; pipeline survived: {pipeline_survived}"
    )
    assert during.spool_depth > 0, "nothing was spooled: the outage did not reach the emitter"
    assert report.lost == 0 and report.rejected == 0 and report.spool_depth == 0
    assert report.delivered + report.drained == len(schedule)
    assert stored == sent, f"lost: {sorted(sent - stored)[:5]}"
    assert final.stored == len(sent) and final.doubled == 0
    assert extra >= 0 and final.accounted == len(schedule) + extra
    assert pipeline_survived
