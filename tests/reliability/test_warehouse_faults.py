"""Warehouse faults: refused rows become dead letters; a warehouse outage is retried, not lost.

1. Schema drift. This test's ``events`` table declares ``surface`` INTEGER, so the warehouse
   refuses every click row (its surface is a word) and accepts every pause. The refused rows
   must become ``warehouse_rejected`` dead letters carrying the row, and the pipeline must
   keep running and keep storing the rows the warehouse accepts.
2. Outage. The BigQuery stand-in is stopped for 20 s while traffic flows, then started
   again. The sink retries with backoff; once the stand-in is back every event is stored
   once. Its data folder is persistent, so the restart itself keeps the tables.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from clickstream.app.local import services
from clickstream.core.bigquery_clients import bigquery_client
from clickstream.core.config import Settings
from emitters.simulator import TrafficProfile
from tests.support.reliability import (
    Traffic,
    column,
    drift_column,
    isolated,
    simulated,
    start_pipeline,
    stored_event_ids_sql,
    wait_until_accounted,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_refused_rows_become_dead_letters_and_the_pipeline_keeps_running(stack: Settings, tmp_path: Path) -> None:
    settings = isolated(stack, "reject")
    client = bigquery_client(settings)
    drift_column(client, settings, "events", "surface")
    emissions = simulated(TrafficProfile(rate=30, session_gap_s=10, seed=71, analytics_denied=0), n=300)
    schedule = [(due, event) for due, event, _ in emissions]
    clicks = {e.event_id for _, e in schedule if e.event_type == "ThumbnailClicked"}
    pauses = {e.event_id for _, e in schedule if e.event_type == "VideoPaused"}
    rows_shown = {e.event_id for _, e in schedule if e.event_type == "ThumbnailsShown"}  # into impressions

    with start_pipeline(settings, tmp_path, "--session_gap_s=10") as pipeline:
        Traffic(settings, schedule).start().join()
        final = wait_until_accounted(client, settings, len(schedule), 120, pipeline)
        still_running = pipeline.running

    stored = set(column(client, stored_event_ids_sql(settings)))
    refused = column(
        client,
        f"SELECT event_id FROM `{settings.table_id('dead_letters')}` "
        "WHERE reason = 'warehouse_rejected' AND stage = 'sink' AND refused_table = 'events'",
    )
    print(
        f"\nschema drift: {len(schedule)} sent ({len(clicks)} clicks, {len(pauses)} pauses) -> "
        f"{len(stored)} stored, {len(refused)} refused rows dead-lettered; pipeline still running: {still_running}"
    )
    assert stored == pauses | rows_shown
    assert sorted(refused) == sorted(clicks)
    # In the ledger, each refused event is the message's one outcome: a dead letter, not lost.
    assert final.dead_letters == {"warehouse_rejected": len(clicks)}
    assert final.accounted == len(schedule) and final.doubled == 0 and final.redelivered == 0
    assert still_running, "the pipeline stopped after the warehouse refused rows"


def test_warehouse_outage_is_retried_without_loss(own_stack: Settings, tmp_path: Path) -> None:
    settings = isolated(own_stack, "whdown")
    client = bigquery_client(settings)
    emissions = simulated(
        TrafficProfile(rate=10, session_gap_s=10, seed=72, duplicates=0.05, invalid=0.02, analytics_denied=0),
        duration_s=50,
    )
    schedule = [(due, event) for due, event, _ in emissions]
    # A re-sent invalid event is invalid too: take ids from the originals only.
    valid = {e.event_id for _, e, kind in emissions if kind != "duplicate" and not kind.startswith("invalid")}

    with start_pipeline(settings, tmp_path, "--session_gap_s=10") as pipeline:
        traffic = Traffic(settings, schedule).start()
        time.sleep(10)
        services.stop_service(own_stack, "bigquery")
        down_at = time.monotonic()
        time.sleep(20)
        services.start_service(own_stack, "bigquery")
        outage_s = time.monotonic() - down_at
        traffic.join()
        final = wait_until_accounted(client, settings, len(schedule), 300, pipeline)
        survived = pipeline.running
        retries = pipeline.log_path.read_text(errors="replace").count("BigQuery insert retry")

    stored = column(client, stored_event_ids_sql(settings))
    sink_errors = column(
        client, f"SELECT SUBSTR(error, 1, 300) FROM `{settings.table_id('dead_letters')}` WHERE stage = 'sink'"
    )
    print(
        f"\nwarehouse outage {outage_s:.0f}s: {len(schedule)} sent -> {len(stored)} events stored "
        f"({len(valid - set(stored))} lost, {len(stored) - len(set(stored))} duplicate rows), "
        f"{final.dead_lettered} dead letters, {final.duplicates} duplicates dropped; "
        f"{retries} insert retries logged; pipeline survived: {survived}"
    )
    assert not sink_errors, f"rows dead-lettered during a transient outage: {sink_errors[:3]}"
    assert retries > 0, "the outage never reached the sink"
    assert set(stored) == valid and len(stored) == len(valid)
    assert final.accounted == len(schedule) and final.redelivered == 0
    assert survived
