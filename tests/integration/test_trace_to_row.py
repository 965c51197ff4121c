"""From a trace to its row and back, on the local stack: emulator -> streaming pipeline -> stand-in.

Messages go to the events topic with the ``googclient_traceparent`` attribute the collector sets,
and to the collector's rejected topic; the real local pipeline stores them; the trace id is on the
stored event and on both kinds of dead letter, and the ledger balances with them.
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from google.cloud import bigquery
from typer.testing import CliRunner

from clickstream.app import provisioning
from clickstream.app.cli import app
from clickstream.app.local import runner
from clickstream.core import attributes as attr
from clickstream.core.bigquery_clients import bigquery_client
from clickstream.core.config import Settings
from clickstream.core.ledger import read_ledger
from clickstream.core.pubsub_clients import publisher_client
from clickstream.core.reasons import Reason, Stage
from clickstream.core.tables import ensure_dataset_and_tables, table_specs
from emitters.events import ClientInfo, encode_event, now_ms, video_paused
from tests.support.collector import client as collector_client
from tests.support.collector import serving

pytestmark = pytest.mark.integration

CLIENT = ClientInfo(platform="web", app_version="1.0.0", user_agent="Mozilla/5.0 (X11; Linux x86_64)")
TRACE_COLUMNS = ("trace_id", "span_id", "received_at", "client_ip_prefix", "event_id_generated")


class _LocalPipeline:
    """The real local streaming pipeline on a thread of the test, subscribed once this returns."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.results: dict[str, object] = {}
        stop = runner.LocalStop(max_runtime_s=90, idle_stop_s=15)
        self.thread = threading.Thread(
            target=lambda: self.results.setdefault("result", runner.run(settings.pipeline_args(), stop)), daemon=True
        )
        self.thread.start()
        time.sleep(5)  # let the pipeline subscribe

    def wait_until_accounted(self, client: bigquery.Client, published: int) -> None:
        """Until the ledger accounts for ``published`` messages, then until the pipeline stops (idle)."""
        deadline = time.monotonic() + 60
        while read_ledger(client, self.settings).accounted < published and time.monotonic() < deadline:
            time.sleep(2)
        self.thread.join(timeout=120)
        assert "result" in self.results, "the pipeline thread did not finish"


def _traceparent() -> tuple[str, str, str]:
    trace_id, span_id = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    return f"00-{trace_id}-{span_id}-01", trace_id, span_id


def test_existing_events_and_dead_letters_tables_gain_the_trace_columns_on_ensure(stack: Settings) -> None:
    settings = stack.isolated("tracecols", own_dataset=True)
    client = bigquery_client(settings)
    client.create_dataset(bigquery.Dataset(f"{settings.project}.{settings.dataset}"))
    before = {}
    for name in ("events", "dead_letters"):
        # A table made before the trace columns: the columns before the first of them (every
        # later addition, such as issue 13's privacy columns, is missing too).
        schema = table_specs()[name].schema()
        first_new = next(i for i, f in enumerate(schema) if f.name in TRACE_COLUMNS)
        old = schema[:first_new]
        client.create_table(bigquery.Table(settings.table_id(name), schema=old))
        before[name] = [f.name for f in old]
    ensure_dataset_and_tables(client, settings.project, settings.dataset)
    for name, old_names in before.items():
        names = [f.name for f in client.get_table(settings.table_id(name)).schema]
        assert names == table_specs()[name].field_names(), name  # old columns first, in order
        assert names[: len(old_names)] == old_names


def test_a_trace_id_leads_to_the_stored_event_and_the_dead_letters_and_the_ledger_balances(
    stack: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = stack.isolated("trace")
    provisioning.provision(settings)
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", settings.pubsub_emulator_host)
    client = bigquery_client(settings)
    start = now_ms()

    pipeline = _LocalPipeline(settings)

    stored_parent, stored_trace, stored_span = _traceparent()
    invalid_parent, invalid_trace, _ = _traceparent()
    rejected_parent, rejected_trace, rejected_span = _traceparent()
    good = video_paused(user_id="u-trace", device_id="d-1", client=CLIENT, video_id="vid-000001", position_ms=1_000)
    bad = video_paused(user_id="u-trace", device_id="d-1", client=CLIENT, video_id="vid-000001", position_ms=-1)
    collector = {
        attr.RECEIVED_AT: str(start),
        attr.CLIENT_IP_PREFIX: "203.0.113.0/24",
        attr.EVENT_ID_GENERATED: "true",
    }
    publisher = publisher_client(settings)
    futures = [
        publisher.publish(
            settings.topic_path,
            encode_event(good),
            **good.attributes(),
            **collector,
            **{attr.TRACEPARENT: stored_parent},
        ),
        publisher.publish(
            settings.topic_path, encode_event(bad), **bad.attributes(), **{attr.TRACEPARENT: invalid_parent}
        ),
        publisher.publish(
            settings.rejected_topic_path,
            b'{"event_type": "VideoPaused", "user_id": 7}',
            **{
                attr.REJECT_REASON: Reason.CONTRACT_VIOLATION,
                attr.REJECT_DETAIL: "user_id: 7 is not a string",
                attr.TRACEPARENT: rejected_parent,
                **collector,
            },
        ),
        publisher.publish(
            settings.rejected_topic_path, b"[]", **{attr.REJECT_REASON: "from_the_future", attr.REJECT_DETAIL: "?"}
        ),
    ]
    message_ids = [f.result(timeout=30) for f in futures]
    published = len(message_ids)

    pipeline.wait_until_accounted(client, published)

    def query(sql: str) -> list[dict]:
        return [dict(row) for row in client.query(sql).result()]

    events = query(
        f"SELECT event_id, span_id, received_at, client_ip_prefix, event_id_generated "
        f"FROM `{settings.table_id('events')}` WHERE trace_id = '{stored_trace}'"
    )
    assert [(e["event_id"], e["span_id"], e["client_ip_prefix"], e["event_id_generated"]) for e in events] == [
        (good.event_id, stored_span, "203.0.113.0/24", True)
    ]
    assert events[0]["received_at"].timestamp() * 1000 == pytest.approx(start, abs=1)
    dead = query(
        f"SELECT trace_id, span_id, stage, reason, event_id FROM `{settings.table_id('dead_letters')}` "
        f"WHERE trace_id IN ('{invalid_trace}', '{rejected_trace}') ORDER BY stage"
    )
    assert [(d["trace_id"], d["stage"], d["reason"]) for d in dead] == [
        (rejected_trace, Stage.COLLECT, Reason.CONTRACT_VIOLATION),
        (invalid_trace, Stage.VALIDATE, Reason.NEGATIVE_POSITION),
    ]
    assert dead[0]["span_id"] == rejected_span

    ledger = read_ledger(client, settings)
    print(f"[{settings.dataset}] message ids {message_ids}: {ledger.equation(published)}")
    assert ledger.balances(published), ledger
    assert ledger.stored == 1 and ledger.dead_letters == {
        Reason.NEGATIVE_POSITION: 1,
        Reason.CONTRACT_VIOLATION: 1,
        Reason.INVALID_VALUE: 1,
    }
    # The collector made the stored event's id: the ledger and `clickstream ledger` say so.
    assert ledger.generated_ids == 1
    env = {
        "CLICKSTREAM_PROJECT": settings.project,
        "CLICKSTREAM_DATASET": settings.dataset,
        "CLICKSTREAM_BIGQUERY_ENDPOINT": settings.bigquery_endpoint,
        "PUBSUB_EMULATOR_HOST": settings.pubsub_emulator_host,
    }
    shown = CliRunner().invoke(app, ["ledger", "--published", str(published)], env=env)
    assert shown.exit_code == 0, shown.output
    assert "of which the collector generated the event_id 1" in " ".join(shown.output.replace("│", " ").split())


def test_a_requests_traceparent_leads_through_the_collector_to_its_stored_event_and_dead_letters(
    stack: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole front door: one POST with a known traceparent, a valid event, one the pipeline
    refuses and one the collector refuses; each row carries the request's trace id."""
    settings = stack.isolated("collectortrace")
    provisioning.provision(settings)
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", settings.pubsub_emulator_host)
    client = bigquery_client(settings)

    pipeline = _LocalPipeline(settings)

    traceparent, trace_id, _ = _traceparent()
    sent_at = now_ms()
    common = {"user_id": "u-front", "device_id": "d-1", "client": {"platform": "web", "app_version": "1.0.0"}}
    good_id, refused_by_pipeline_id, refused_by_collector_id = (str(uuid.uuid4()) for _ in range(3))
    batch = {
        "events": [
            {
                **common,
                "event_id": good_id,
                "event_type": "ThumbnailClicked",
                "event_ts": sent_at,
                "sent_at": sent_at,
                "payload": {"video_id": "vid-000001", "impression_id": "i-1", "surface": "home", "slot": 3, "rank": 5},
            },
            {
                **common,
                "event_id": refused_by_pipeline_id,
                "event_type": "VideoPaused",
                "event_ts": sent_at,
                "sent_at": sent_at,
                "payload": {"video_id": "vid-000001", "position_ms": -1},
            },
            {**common, "event_id": refused_by_collector_id, "event_type": "VideoPaused", "event_ts": "yesterday"},
        ]
    }
    with serving(settings) as base, collector_client(base) as http:
        answer = http.post("/v1/events", json=batch, headers={"traceparent": traceparent})
    assert answer.status_code == 202, answer.text
    assert answer.json()["accepted"] == 2
    assert [r["index"] for r in answer.json()["rejected"]] == [2]
    published = 3

    pipeline.wait_until_accounted(client, published)

    def query(sql: str) -> list[dict]:
        return [dict(row) for row in client.query(sql).result()]

    events = query(
        f"SELECT event_id, slot, client_ip_prefix, event_id_generated, received_at "
        f"FROM `{settings.table_id('events')}` WHERE trace_id = '{trace_id}'"
    )
    assert [(e["event_id"], e["slot"], e["client_ip_prefix"], e["event_id_generated"]) for e in events] == [
        (good_id, 3, "127.0.0.0/24", False)
    ]
    assert events[0]["received_at"] is not None
    dead = query(
        f"SELECT event_id, stage, reason FROM `{settings.table_id('dead_letters')}` "
        f"WHERE trace_id = '{trace_id}' ORDER BY stage"
    )
    assert [(d["event_id"], d["stage"], d["reason"]) for d in dead] == [
        (refused_by_collector_id, Stage.COLLECT, Reason.CONTRACT_VIOLATION),
        (refused_by_pipeline_id, Stage.VALIDATE, Reason.NEGATIVE_POSITION),
    ]
    ledger = read_ledger(client, settings)
    print(f"[{settings.dataset}] through the collector: {ledger.equation(published)}")
    assert ledger.balances(published), ledger
