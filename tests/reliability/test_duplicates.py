"""Duplicates: 10% duplicate deliveries give no duplicate rows and the same sessions.

Two runs of the streaming pipeline on the local stack play the same simulated traffic (same
seed, duplicate-free); the second also re-sends 10% of the events 0.05-2 s later, as a
client retry would. Both must store the same events once each and close the same sessions.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from clickstream.core.bigquery_clients import bigquery_client
from clickstream.core.config import Settings
from clickstream.core.ledger import read_ledger
from emitters.events import Event
from emitters.simulator import TrafficProfile
from tests.support.reliability import Traffic, isolated, simulated, start_pipeline

pytestmark = [pytest.mark.integration, pytest.mark.slow]

GAP_S = 5
PROFILE = TrafficProfile(rate=30, session_gap_s=GAP_S, seed=41, invalid=0.02)


def _schedule(duplicate_share: float) -> tuple[list[tuple[float, Event]], int]:
    base = [(due, event) for due, event, _ in simulated(PROFILE, n=450)]
    rng = random.Random(7)
    resent = [(due + rng.uniform(0.05, 2.0), event) for due, event in base if rng.random() < duplicate_share]
    return sorted(base + resent, key=lambda pair: pair[0]), len(resent)


def _run(stack: Settings, tmp_path: Path, duplicate_share: float) -> tuple[list[tuple], int, int]:
    settings = isolated(stack, "dups")
    client = bigquery_client(settings)
    idle_stop = GAP_S + 35  # the empty pull that moves the watermark past the last gap takes 30 s
    with start_pipeline(
        settings, tmp_path, f"--session_gap_s={GAP_S}", "--early_firing_s=5", f"--idle_stop_s={idle_stop}"
    ) as pipeline:
        schedule, injected = _schedule(duplicate_share)
        report = Traffic(settings, schedule).start().join()
        assert report.delivered == len(schedule)
        assert pipeline.wait(timeout=idle_stop + 120), "the pipeline did not stop after going idle"
    result = read_ledger(client, settings)
    sql = f"SELECT event_count, duration_s FROM `{settings.table_id('sessions_final')}`"
    sessions = sorted((row.event_count, row.duration_s) for row in client.query(sql).result())
    return result, sessions, len(schedule), injected


def test_ten_percent_duplicates_change_nothing_downstream(stack: Settings, tmp_path: Path) -> None:
    started = time.monotonic()
    clean, clean_sessions, clean_sent, _ = _run(stack, tmp_path, 0.0)
    dup, dup_sessions, dup_sent, injected = _run(stack, tmp_path, 0.10)
    print(
        f"\nduplicate-free run: {clean_sent} sent -> {clean.stored} events, {clean.dead_lettered} dead letters, "
        f"{len(clean_sessions)} sessions"
        f"\n10% duplicates run: {dup_sent} sent ({injected} of {dup_sent - injected} events re-sent) -> "
        f"{dup.stored} events ({dup.doubled} duplicate rows), {dup.duplicates} duplicates "
        f"dropped, {dup.dead_lettered} dead letters, {len(dup_sessions)} sessions"
        f"\nboth runs took {time.monotonic() - started:.0f}s"
    )
    assert dup.accounted == dup_sent and clean.accounted == clean_sent
    # One outcome per message: the local runner acks on pull, so nothing is recorded twice.
    assert dup.redelivered == clean.redelivered == 0
    assert dup.doubled == 0, "a duplicate delivery became a second row"
    assert dup.stored == clean.stored
    # Re-sent invalid events are dead letters and re-sent events of people who refused analytics are
    # filtered (each delivery is one: both come before dedup); every other re-send was dropped.
    assert (
        dup.duplicates + (dup.dead_lettered - clean.dead_lettered) + (dup.filtered_total - clean.filtered_total)
        == injected
    )
    assert len(dup_sessions) == len(clean_sessions) > 0
    assert dup_sessions == clean_sessions, "sessions differ: a duplicate changed an event count or a duration"
