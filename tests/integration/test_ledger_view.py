"""The ledger view (sql/views/message_outcomes.sql) on rows seeded into the BigQuery stand-in:
each case of "where did this message go" the end-to-end runs rarely or never produce."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from clickstream.app import provisioning
from clickstream.app.local import runner
from clickstream.core.bigquery_clients import bigquery_client
from clickstream.core.config import Settings
from clickstream.core.ledger import read_ledger
from clickstream.core.tables import table_specs
from emitters.events import ShownThumbnail
from emitters.publisher import EventPublisher, PublisherConfig
from tests.support.teststream import T0_MS, clicked, shown

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _ts(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _event(message_id: str | None, event_id: str, published: datetime | None, processed: datetime) -> dict:
    row = {name: None for name in table_specs()["events"].field_names()}
    row.update(
        event_id=event_id,
        event_type="VideoPaused",
        schema_version="1.1",
        event_ts=_ts(published or processed),
        client_event_ts=_ts(published or processed),
        sent_at=_ts(published or processed),
        publish_time=_ts(published) if published else None,
        processed_at=_ts(processed),
        user_id="u",
        device_id="d",
        video_id="v",
        message_id=message_id,
        skew_corrected=False,
        clock_skew_ms=0,
        catalog_hit=False,
    )
    return {k: v for k, v in row.items() if v is not None}


def _dead(message_id: str | None, event_id: str, published: datetime, failed: datetime, **extra) -> dict:
    row = dict(
        message_id=message_id,
        event_id=event_id,
        publish_time=_ts(published),
        failed_at=_ts(failed),
        stage="validate",
        reason="invalid_slot",
        error="slot=0 < 1",
        payload="",
        attributes=[],
    )
    row.update(extra)
    return row


def _duplicate(message_id: str, event_id: str, published: datetime, dropped: datetime) -> dict:
    return dict(
        message_id=message_id, event_id=event_id, publish_time=_ts(published), event_ts=_ts(published),
        dropped_at=_ts(dropped),
    )  # fmt: skip


@pytest.fixture
def seeded(stack: Settings) -> Settings:
    settings = stack.isolated("ledger")
    provisioning.provision(settings)
    client = bigquery_client(settings)
    s = timedelta(seconds=1)
    earlier_run = T0 - timedelta(days=1)
    rows = {
        "events": [
            _event("1", "e-1", T0, T0 + s),
            _event("2", "e-2", T0, T0 + s),
            # The emulator restarted its ids: message "1" of an earlier run is another message.
            _event("1", "e-old", earlier_run, earlier_run + s),
            # An archive line replayed without a publish time: counted by when it was recorded.
            _event(None, "e-archive", None, T0 + 5 * s),
        ],
        "dead_letters": [
            _dead("3", "e-3", T0, T0 + s),
            _dead("3", "e-3", T0, T0 + 70 * s),  # redelivered after the ack deadline, dead again
            # The warehouse refused the event row of message 4: that is its one outcome.
            _dead("4", "e-4", T0, T0 + s, stage="sink", reason="warehouse_rejected", refused_table="events"),
            # A session pane the warehouse refused: an output, not a message.
            _dead("2", None, T0, T0 + 9 * s, stage="sink", reason="warehouse_rejected", refused_table="sessions"),
        ],
        "duplicates": [
            _duplicate("5", "e-1", T0, T0 + 2 * s),  # published twice by the emitter: its own message
            _duplicate("2", "e-2", T0, T0 + 70 * s),  # message 2 redelivered, dropped by dedup
        ],
    }
    for table, table_rows in rows.items():
        errors = client.insert_rows_json(settings.table_id(table), table_rows)
        assert errors == [], errors
    return settings


def test_every_message_once_redeliveries_and_outputs_apart(seeded: Settings) -> None:
    client = bigquery_client(seeded)
    ledger = read_ledger(client, seeded, T0 - timedelta(minutes=1))
    # Messages since T0: 1, 2 and the archive line stored; 3 and 4 dead-lettered; 5 a duplicate.
    assert ledger.stored == 3
    assert ledger.dead_letters == {"invalid_slot": 1, "warehouse_rejected": 1}
    assert ledger.duplicates == 1
    assert (ledger.output_rows, ledger.redelivered, ledger.doubled) == (1, 2, 0)
    assert ledger.balances(6)
    # Everything: the earlier run's message "1" is a message of its own, not a redelivery.
    everything = read_ledger(client, seeded)
    assert everything.stored == 4 and everything.doubled == 0 and everything.balances(7)


def test_an_event_stored_twice_does_not_balance(seeded: Settings) -> None:
    client = bigquery_client(seeded)
    errors = client.insert_rows_json(seeded.table_id("events"), [_event("1", "e-1", T0, T0 + timedelta(seconds=9))])
    assert errors == []
    ledger = read_ledger(client, seeded, T0 - timedelta(minutes=1))
    assert ledger.stored == 3 and ledger.doubled == 1
    assert not ledger.balances(6)


def test_a_replay_record_is_the_outcome_and_the_dead_letter_it_recovered_is_lineage(stack: Settings) -> None:
    settings = stack.isolated("lineage")
    provisioning.provision(settings)
    client = bigquery_client(settings)
    s, replay1, replay2 = timedelta(seconds=1), T0 + timedelta(hours=1), T0 + timedelta(hours=2)

    def by(replay: datetime, row: dict) -> dict:
        return {**row, "replayed_at": _ts(replay)}

    rows = {
        "events": [
            by(replay1, _event("6", "e-6", T0, replay1 + s)),  # message 6, recovered by replay 1
            _event("8", "e-8", T0, T0 + s),  # message 8, stored ...
            by(replay1, _event("8", "e-8", T0, replay1 + s)),  # ... and stored again by a replay
            _event("10", "e-10", T0, T0 + s),
        ],
        "dead_letters": [
            _dead("6", "e-6", T0, T0 + s, reason="event_time_too_old"),
            # Message 7: dead, replayed and dead again (invalid_rank), replayed and dead again.
            _dead("7", "e-7", T0, T0 + s, reason="event_time_too_old"),
            by(replay1, _dead("7", "e-7", T0, replay1 + s, reason="invalid_rank")),
            by(replay2, _dead("7", "e-7", T0, replay2 + s, reason="invalid_slot")),
            # Message 9: dead, then a replay found its event already stored (message 10).
            _dead("9", "e-10", T0, T0 + s, reason="event_time_too_old"),
        ],
        "duplicates": [by(replay1, _duplicate("9", "e-10", T0, replay1 + s))],
    }
    for table, table_rows in rows.items():
        assert client.insert_rows_json(settings.table_id(table), table_rows) == []

    ledger = read_ledger(client, settings)
    # Messages 6, 8 and 10 stored, 7 dead-lettered by its newest replay, 9 a duplicate.
    assert ledger.stored == 3 and ledger.dead_letters == {"invalid_slot": 1} and ledger.duplicates == 1
    # Four dead letters re-processed by a later replay (6, 7 twice, 9); message 8 stored twice.
    assert (ledger.replayed, ledger.redelivered, ledger.doubled) == (4, 0, 1)
    assert ledger.accounted == 5 and not ledger.balances(5)


def _filtered(message_id: str, event_id: str, published: datetime, filtered: datetime, reason: str) -> dict:
    return dict(
        message_id=message_id, event_id=event_id, publish_time=_ts(published), event_type="VideoPaused",
        reason=reason, filtered_at=_ts(filtered),
    )  # fmt: skip


def test_filtered_messages_are_outcomes_and_stored_bots_are_counted(stack: Settings) -> None:
    settings = stack.isolated("filtered")
    provisioning.provision(settings)
    client = bigquery_client(settings)
    s, replay = timedelta(seconds=1), T0 + timedelta(hours=1)
    rows = {
        "events": [
            {**_event("1", "e-1", T0, T0 + s), "is_bot": True, "bot_reason": "spider_device"},
            {**_event("2", "e-2", T0, T0 + s), "is_bot": False},
            _event("3", "e-3", T0, T0 + s),  # stored before bots were marked: is_bot NULL
        ],
        "filtered": [
            _filtered("4", "e-4", T0, T0 + s, "consent_denied"),
            _filtered("5", "e-5", T0, T0 + s, "erased_user"),
            _filtered("5", "e-5", T0, T0 + 70 * s, "erased_user"),  # redelivered, filtered again
            # Message 6 was dead-lettered, then a replay filtered it: the replay's record counts.
            {**_filtered("6", "e-6", T0, replay + s, "erased_user"), "replayed_at": _ts(replay)},
        ],
        "dead_letters": [
            _dead("6", "e-6", T0, T0 + s, reason="event_time_too_old"),
            # The filtered table refused message 7's row: the dead letter is its one outcome.
            _dead("7", "e-7", T0, T0 + s, stage="sink", reason="warehouse_rejected", refused_table="filtered"),
        ],
    }
    for table, table_rows in rows.items():
        assert client.insert_rows_json(settings.table_id(table), table_rows) == [], table

    ledger = read_ledger(client, settings)
    assert ledger.stored == 3 and ledger.bots == 1
    assert ledger.filtered == {"consent_denied": 1, "erased_user": 2}
    assert ledger.dead_letters == {"warehouse_rejected": 1}
    assert (ledger.redelivered, ledger.replayed, ledger.doubled) == (1, 1, 0)
    assert ledger.balances(7)


def _impression(message_id: str, event_id: str, impression_id: str, published: datetime, processed: datetime) -> dict:
    slot = int(impression_id.rsplit("-", 1)[-1])
    return dict(
        event_id=event_id, impression_id=impression_id, schema_version="1.3", event_ts=_ts(published),
        client_event_ts=_ts(published), publish_time=_ts(published), user_id="u", device_id="d",
        request_id=f"req-{event_id}", surface="home", experiment_ids=[], video_id=f"v-{slot}", slot=slot, rank=slot,
        items_shown=3, catalog_hit=True, message_id=message_id, processed_at=_ts(processed),
    )  # fmt: skip


def _shown(message_id: str, event_id: str, published: datetime, processed: datetime, slots=(1, 2, 3)) -> list[dict]:
    return [_impression(message_id, event_id, f"imp-{event_id}-{k}", published, processed) for k in slots]


def test_a_thumbnails_shown_is_one_stored_message_however_many_impressions_it_made(stack: Settings) -> None:
    settings = stack.isolated("impressions")
    provisioning.provision(settings)
    client = bigquery_client(settings)
    s, replay = timedelta(seconds=1), T0 + timedelta(hours=1)
    rows = {
        "impressions": [
            *_shown("21", "e-21", T0, T0 + s),  # a row of three thumbnails: one message stored
            *[{**r, "is_bot": True} for r in _shown("22", "e-22", T0, T0 + s)],  # a crawler was shown a row
            # Message 24: the warehouse refused its third impression; a replay put it back.
            *_shown("24", "e-24", T0, T0 + s, slots=(1, 2)),
            *[{**r, "replayed_at": _ts(replay)} for r in _shown("24", "e-24", T0, replay + s, slots=(3,))],
        ],
        "events": [_event("20", "e-20", T0, T0 + s)],  # the click after it
        "duplicates": [_duplicate("23", "e-21", T0, T0 + 2 * s)],  # message 21's event delivered again
        "dead_letters": [
            _dead("25", "e-25", T0, T0 + s, reason="duplicate_impression_id", event_type="ThumbnailsShown"),
            _dead("24", "e-24", T0, T0 + s, stage="sink", reason="warehouse_rejected", refused_table="impressions"),
        ],
    }
    for table, table_rows in rows.items():
        assert client.insert_rows_json(settings.table_id(table), table_rows) == [], table

    ledger = read_ledger(client, settings)
    # 20 (an event), 21, 22 and 24 (impressions) stored; 23 a duplicate; 25 dead-lettered.
    assert (ledger.stored, ledger.impressions, ledger.bots) == (4, 3, 1)
    assert ledger.duplicates == 1 and ledger.dead_letters == {"duplicate_impression_id": 1}
    # Message 24's refused row was recovered by the replay: its dead letter is lineage, not an outcome.
    assert (ledger.replayed, ledger.redelivered, ledger.doubled) == (1, 0, 0)
    assert ledger.balances(6)


def test_an_impression_stored_twice_does_not_balance(stack: Settings) -> None:
    settings = stack.isolated("impressions_twice")
    provisioning.provision(settings)
    client = bigquery_client(settings)
    s = timedelta(seconds=1)
    rows = [*_shown("31", "e-31", T0, T0 + s), *_shown("31", "e-31", T0, T0 + 9 * s, slots=(2,))]
    assert client.insert_rows_json(settings.table_id("impressions"), rows) == []
    ledger = read_ledger(client, settings)
    assert (ledger.stored, ledger.impressions, ledger.doubled) == (1, 1, 1)
    assert not ledger.balances(1)


def _rows(client, settings: Settings, table: str, columns: str) -> list[tuple]:
    result = client.query(f"SELECT {columns} FROM `{settings.table_id(table)}`").result()
    return sorted(tuple(row.values()) for row in result)


def test_thumbnails_shown_through_the_emulator_and_the_pipeline_each_end_in_one_place(
    stack: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real emulator, real streaming pipeline, the BigQuery stand-in: a row of thumbnails shown
    and delivered twice, a row of one thumbnail, an invalid row and a click; each message ends in
    exactly one place, and the ledger balances with impressions in the traffic."""
    settings = stack.isolated("shown_e2e")
    provisioning.provision(settings)
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", settings.pubsub_emulator_host)
    client = bigquery_client(settings)
    now_s = (time.time_ns() // 1_000_000 - T0_MS) / 1000  # recent events: none is too old

    def recent(event, at_s: float):
        return replace(event, event_ts_ms=T0_MS + int(at_s * 1000), sent_at_ms=None)

    row = recent(shown("amy", 0, request_id="req-a"), now_s - 5)
    lone = recent(shown("bob", 0, videos=("vid-000002",), request_id="req-b"), now_s - 4)
    twice = (ShownThumbnail("vid-000001", "imp-x", 1, 1), ShownThumbnail("vid-000002", "imp-x", 2, 2))
    bad = recent(shown("cal", 0, items=twice, request_id="req-c"), now_s - 3)
    click = recent(clicked("amy", 0), now_s - 2)
    published = [row, row, lone, bad, click]  # `row` twice: the same event in two messages

    results: dict[str, object] = {}
    stop = runner.LocalStop(max_runtime_s=90, idle_stop_s=15)
    thread = threading.Thread(
        target=lambda: results.setdefault("result", runner.run(settings.pipeline_args(), stop)), daemon=True
    )
    thread.start()
    time.sleep(5)  # let the pipeline subscribe
    with EventPublisher(PublisherConfig.from_settings(settings)) as publisher:
        for event in published:
            publisher.publish(event)
        report = publisher.flush(timeout=30)
    assert report.delivered == len(published), report

    deadline = time.monotonic() + 60
    while read_ledger(client, settings).accounted < len(published) and time.monotonic() < deadline:
        time.sleep(2)
    thread.join(timeout=120)
    assert "result" in results, "the pipeline thread did not finish"

    ledger = read_ledger(client, settings)
    assert ledger.balances(len(published)), ledger
    assert (ledger.stored, ledger.impressions, ledger.duplicates) == (3, 2, 1), ledger
    assert ledger.dead_letters == {"duplicate_impression_id": 1}, ledger
    assert (ledger.redelivered, ledger.doubled) == (0, 0), ledger
    # Where each went: the rows shown as impressions (one per thumbnail), the click as the one event.
    assert _rows(client, settings, "impressions", "event_id, impression_id, slot, catalog_hit") == sorted(
        [
            (row.event_id, "req-a-1", 1, True),
            (row.event_id, "req-a-2", 2, True),
            (row.event_id, "req-a-3", 3, False),
            (lone.event_id, "req-b-1", 1, True),
        ]
    )
    assert _rows(client, settings, "events", "event_id, event_type") == [(click.event_id, "ThumbnailClicked")]
    assert _rows(client, settings, "duplicates", "event_id") == [(row.event_id,)]
    assert _rows(client, settings, "dead_letters", "event_id, reason, payload_ids") == [
        (bad.event_id, "duplicate_impression_id", "pseudonymised")
    ]
