"""The privacy filter on the local stack: the erased-user side input read from the stand-in's
``deletion_requests`` table, and a streaming run whose ledger balances with filtered messages
and counts the bots it stored."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from clickstream.app import provisioning
from clickstream.app.local import runner
from clickstream.core.bigquery_clients import bigquery_client
from clickstream.core.config import Settings
from clickstream.core.ledger import read_ledger
from emitters.events import ClientInfo, Consent, video_paused
from emitters.publisher import EventPublisher, PublisherConfig
from pipelines.transforms.privacy_filter import load_erased_users

pytestmark = pytest.mark.integration

BROWSER = ClientInfo("web", "6.1.0", "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0")
BOT = ClientInfo("web", "6.1.0", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)")


def test_erased_users_are_read_from_the_deletion_requests_table_however_old_the_request(stack: Settings) -> None:
    settings = stack.isolated("erased", own_dataset=True)
    provisioning.provision(settings)
    client = bigquery_client(settings)
    now = datetime.now(UTC)

    def request(user_ids: list[str], days_ago: float) -> dict:
        at = (now - timedelta(days=days_ago)).isoformat()
        return {"request_id": str(uuid.uuid4()), "user_ids": user_ids, "requested_at": at, "status": "pending"}

    rows = [request(["p-1", "p-1-old-key"], 2), request(["p-1"], 5), request(["p-2"], 40)]
    assert client.insert_rows_json(settings.table_id("deletion_requests"), rows) == []

    erased = load_erased_users(
        None, settings.table_id("deletion_requests"), settings.bigquery_endpoint, settings.project
    )
    # Every request, however old (an event published before it stays filtered: a replay);
    # each pseudonym with its newest one.
    assert set(erased) == {"p-1", "p-1-old-key", "p-2"}
    assert abs(erased["p-1"] - (now - timedelta(days=2)).timestamp() * 1000) < 1000


def test_a_streaming_run_filters_denied_consent_and_the_ledger_balances_with_bots_counted(
    stack: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = stack.isolated("consent")
    provisioning.provision(settings)
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", settings.pubsub_emulator_host)
    client = bigquery_client(settings)

    results: dict[str, object] = {}
    args = [*settings.pipeline_args(), "--session_gap_s=4", "--early_firing_s=5", "--allowed_lateness_s=60"]
    stop = runner.LocalStop(max_runtime_s=120, idle_stop_s=20)
    thread = threading.Thread(target=lambda: results.setdefault("result", runner.run(args, stop)), daemon=True)
    thread.start()
    time.sleep(5)  # let the pipeline subscribe

    start_ms = int(time.time() * 1000)
    consents = [Consent(analytics=False, personalization=False)] * 4 + [Consent(True, False)] * 3 + [None] * 5
    events = [
        replace(
            video_paused(
                user_id=f"user-{i % 3}",
                device_id=f"device-{i % 3}",
                client=BOT if i >= 10 else BROWSER,
                video_id="vid-000001",
                position_ms=1_000,
                event_ts=start_ms + i * 100,
            ),
            consent=consent,
        )
        for i, consent in enumerate(consents)
    ]
    with EventPublisher(PublisherConfig.from_settings(settings)) as publisher:
        for event in events:
            publisher.publish(event)
        report = publisher.flush(timeout=30)
    assert report.delivered == len(events)

    deadline = time.monotonic() + 60
    while read_ledger(client, settings).accounted < len(events) and time.monotonic() < deadline:
        time.sleep(2)
    thread.join(timeout=120)
    assert "result" in results, "the pipeline thread did not finish"

    ledger = read_ledger(client, settings)
    print(f"[{settings.dataset}] {ledger.equation(len(events))}, bots {ledger.bots}")
    assert ledger.balances(len(events)), ledger
    assert ledger.filtered == {"consent_denied": 4} and ledger.stored == 8 and ledger.bots == 2
    # The filtered table holds no person: no user or device id column, and no payload.
    filtered = [dict(r) for r in client.query(f"SELECT * FROM `{settings.table_id('filtered')}`").result()]
    assert {f["event_id"] for f in filtered} == {e.event_id for e in events[:4]}
    assert not any("user-" in str(v) or "device-" in str(v) for f in filtered for v in f.values())
