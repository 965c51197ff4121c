"""End to end on the local stack: emitter -> emulator -> streaming pipeline -> stand-in tables.

The ledger (``message_outcomes``) must balance exactly: every published message is an event
row, a dead letter, or a duplicate the pipeline dropped, and no event is stored twice.
"""

from __future__ import annotations

import threading
import time

import pytest
from typer.testing import CliRunner

from clickstream.app import provisioning
from clickstream.app.cli import app
from clickstream.app.local import runner
from clickstream.core.bigquery_clients import bigquery_client
from clickstream.core.config import Settings
from clickstream.core.ledger import read_ledger
from emitters.publisher import EventPublisher, PublisherConfig
from emitters.simulator import TrafficProfile
from emitters.traffic import play

pytestmark = pytest.mark.integration


def _count(client, settings: Settings, table: str, where: str = "TRUE") -> int:
    sql = f"SELECT COUNT(*) AS n FROM `{settings.table_id(table)}` WHERE {where}"
    return next(iter(client.query(sql).result())).n


def test_published_equals_stored_plus_dead_letters_plus_duplicates_in_the_ledger(
    stack: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = stack.isolated("e2e")  # a topic, subscription and dataset of this test's own
    provisioning.provision(settings)
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", settings.pubsub_emulator_host)
    client = bigquery_client(settings)

    results: dict[str, object] = {}
    args = [*settings.pipeline_args(), "--session_gap_s=4", "--early_firing_s=5", "--allowed_lateness_s=60"]
    stop = runner.LocalStop(max_runtime_s=120, idle_stop_s=30)
    thread = threading.Thread(target=lambda: results.setdefault("result", runner.run(args, stop)), daemon=True)
    thread.start()
    time.sleep(5)  # let the pipeline subscribe

    profile = TrafficProfile(rate=60, session_gap_s=4, seed=21, duplicates=0.1, invalid=0.05, skewed=0.1)
    with EventPublisher(PublisherConfig.from_settings(settings)) as publisher:
        summary = play(profile, publisher, max_events=240)
    assert summary.report.delivered == 240

    deadline = time.monotonic() + 60
    while read_ledger(client, settings).accounted < summary.sent and time.monotonic() < deadline:
        time.sleep(2)
    thread.join(timeout=120)
    assert "result" in results, "the pipeline thread did not finish"

    ledger = read_ledger(client, settings)
    invalid_sent = sum(n for kind, n in summary.by_kind.items() if kind.startswith("invalid"))
    print(
        f"[{settings.dataset}] {ledger.equation(summary.sent)} "
        f"({summary.by_kind['duplicate']} duplicates injected, {invalid_sent} invalid)"
    )
    assert ledger.balances(summary.sent), ledger
    assert ledger.redelivered == 0 and ledger.output_rows == 0, ledger  # one record per message
    # Every injected duplicate of a valid event was dropped; duplicates of invalid events are dead letters.
    assert ledger.duplicates <= summary.by_kind["duplicate"]
    assert ledger.dead_lettered >= invalid_sent  # invalid events, and the duplicates of invalid events
    # The simulator names its invalid events after the reason the pipeline gives them.
    for kind, n in summary.by_kind.items():
        if kind.startswith("invalid:"):
            assert ledger.dead_letters.get(kind.removeprefix("invalid:"), 0) >= n, (kind, ledger.dead_letters)
    assert _count(client, settings, "events", "skew_corrected") > 0
    assert _count(client, settings, "sessions") > 0, "session windows should have fired within the run"

    # `clickstream ledger` reads the same ledger: it balances against the true count, and
    # exits 2 when a message is missing.
    env = {
        "CLICKSTREAM_PROJECT": settings.project,
        "CLICKSTREAM_DATASET": settings.dataset,
        "CLICKSTREAM_BIGQUERY_ENDPOINT": settings.bigquery_endpoint,
        "PUBSUB_EMULATOR_HOST": settings.pubsub_emulator_host,
    }
    balanced = CliRunner().invoke(app, ["ledger", "--published", str(summary.sent)], env=env)
    assert balanced.exit_code == 0, balanced.output
    assert f"ledger balances: {ledger.equation(summary.sent)}" in " ".join(balanced.output.split())
    missing = CliRunner().invoke(app, ["ledger", "--published", str(summary.sent + 1)], env=env)
    assert missing.exit_code == 2 and "off by +1" in " ".join(missing.output.split()), missing.output
    later = CliRunner().invoke(app, ["ledger", "--since", "2999-01-01T00:00:00Z"], env=env)
    assert later.exit_code == 0 and "accounted 0 =" in " ".join(later.output.split()), later.output
