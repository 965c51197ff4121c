"""End to end on the local stack: emitter -> emulator -> streaming pipeline -> stand-in tables.

Counts must reconcile exactly: every published message is an event row, a dead letter,
or a duplicate the pipeline dropped.
"""

from __future__ import annotations

import threading
import time

import pytest

from clickstream.core.bigquery_clients import bigquery_client
from clickstream.core.config import Settings
from emitters.publisher import EventPublisher, PublisherConfig
from emitters.simulator import TrafficProfile
from emitters.traffic import play
from pipelines import streaming

pytestmark = pytest.mark.integration


def _count(client, settings: Settings, table: str, where: str = "TRUE") -> int:
    sql = f"SELECT COUNT(*) AS n FROM `{settings.table_id(table)}` WHERE {where}"
    return next(iter(client.query(sql).result())).n


def test_published_equals_events_plus_dead_letters_plus_duplicates(
    fresh_topic: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = fresh_topic
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", settings.pubsub_emulator_host)
    client = bigquery_client(settings)
    run_id = settings.topic  # rows of this test are told apart by their message ids' subscription
    tables = ("events", "dead_letters", "duplicates", "sessions")
    before = {t: _count(client, settings, t) for t in tables}

    results: dict[str, object] = {}
    argv = [
        f"--input_subscription={settings.subscription_path}",
        f"--project={settings.project}",
        f"--dataset={settings.dataset}",
        f"--bigquery_endpoint={settings.bigquery_endpoint}",
        "--session_gap_s=4",
        "--early_firing_s=5",
        "--allowed_lateness_s=60",
        "--max_runtime_s=120",
        "--idle_stop_s=30",
    ]
    runner = threading.Thread(target=lambda: results.setdefault("result", streaming.run(argv)), daemon=True)
    runner.start()
    time.sleep(5)  # let the pipeline subscribe

    profile = TrafficProfile(rate=60, session_gap_s=4, seed=21, duplicates=0.1, invalid=0.05, skewed=0.1)
    with EventPublisher(PublisherConfig.from_settings(settings)) as publisher:
        summary = play(profile, publisher, max_events=240)
    assert summary.report.delivered == 240

    def landed() -> dict[str, int]:
        return {t: _count(client, settings, t) - before[t] for t in tables}

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        now = landed()
        if now["events"] + now["dead_letters"] + now["duplicates"] >= summary.sent:
            break
        time.sleep(2)
    runner.join(timeout=120)
    assert "result" in results, "the pipeline thread did not finish"

    now = landed()
    stored, dead, dropped = now["events"], now["dead_letters"], now["duplicates"]
    invalid_sent = sum(n for kind, n in summary.by_kind.items() if kind.startswith("invalid"))
    print(
        f"[{run_id}] published {summary.sent} = events {stored} + dead letters {dead} + duplicates dropped "
        f"{dropped} ({summary.by_kind['duplicate']} injected, {invalid_sent} invalid)"
    )
    assert summary.sent == stored + dead + dropped
    # Every injected duplicate of a valid event was dropped; duplicates of invalid events are dead letters.
    assert dropped <= summary.by_kind["duplicate"]
    assert dead >= invalid_sent  # invalid events, and the duplicates of invalid events
    assert _count(client, settings, "events", "skew_corrected") > 0
    assert now["sessions"] > 0, "session windows should have fired within the run"
