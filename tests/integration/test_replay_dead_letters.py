"""Re-process dead letters after a fix: bq://...dead_letters -> replay -> events."""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from pathlib import Path

import pytest

from clickstream.app import provisioning
from clickstream.core.bigquery_clients import bigquery_client
from clickstream.core.config import Settings
from clickstream.core.ledger import read_ledger
from clickstream.core.reasons import Reason
from pipelines import replay
from pipelines.archive import to_json_line
from pipelines.messages import RawMessage
from pipelines.rules.decode import Limits, decode_and_validate
from pipelines.transforms.bigquery_sink import sink_dead_letter
from tests.support.keys import key_file, keyring, pseudonym
from tests.support.teststream import CATALOG, T0_MS, enriched, message, paused

pytestmark = pytest.mark.integration


def test_dead_letters_replay_into_events_once_the_limit_is_fixed(stack: Settings, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    # Events 5 days old at publish: dead letters under the default 3-day maximum age.
    old = [paused(f"late-{tag}", i, sent_at=T0_MS + 5 * 86_400_000) for i in range(5)]
    dead = [
        decode_and_validate(message(e, publish_time_ms=T0_MS + 5 * 86_400_000 + 50), Limits(), keyring()).dead_letter
        for e in old
    ]
    assert {d["reason"] for d in dead} == {"event_time_too_old"}
    client = bigquery_client(stack)
    assert client.insert_rows_json(stack.table_id("dead_letters"), dead) == []

    catalog = tmp_path / "catalog.jsonl"
    catalog.write_text(
        json.dumps(
            {"video_id": "vid-000001", "title": "One", "category": "music", "duration_ms": 240_000, "creator_id": "c"}
        )
        + "\n"
    )
    out = tmp_path / "out"
    ids = ", ".join(repr(e.event_id) for e in old)
    replay.run(
        [
            f"--input=bq://{stack.table_id('dead_letters')}",
            f"--dead_letter_filter=reason = 'event_time_too_old' AND event_id IN ({ids})",
            f"--project={stack.project}",
            f"--bigquery_endpoint={stack.bigquery_endpoint}",
            f"--output_dir={out}",
            f"--catalog_path={catalog}",
            f"--max_event_age_s={7 * 86400}",
            f"--pseudonym_key={key_file()}",
        ]
    )
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    assert sorted(e["event_id"] for e in events) == sorted(e.event_id for e in old)
    # Stored pseudonymised, the dead letters' ids are not hashed a second time on the way back.
    assert {d["payload_ids"] for d in dead} == {"pseudonymised"}
    assert {e["user_id"] for e in events} == {pseudonym(f"late-{tag}")}
    assert (out / "dead_letters.jsonl").read_text() == ""
    assert all(e["message_id"].startswith("m-") for e in events)  # the original message ids survive


def _replay_into(settings: Settings, catalog: Path, *args: str) -> None:
    replay.run(
        [
            f"--project={settings.project}",
            f"--dataset={settings.dataset}",
            f"--bigquery_endpoint={settings.bigquery_endpoint}",
            f"--catalog_path={catalog}",
            f"--pseudonym_key={key_file()}",
            *args,
        ]
    )


@pytest.fixture
def own_dataset(stack: Settings) -> Settings:
    settings = stack.isolated("replay")
    provisioning.provision(settings)
    return settings


def _old(n: int) -> list[RawMessage]:
    """Events sent and published 5 days after they happened: dead letters under the default
    3-day maximum age (their clocks agree, so no skew correction moves them)."""
    sent = T0_MS + 5 * 86_400_000
    return [message(paused(f"u{i}", i, sent_at=sent), publish_time_ms=sent + 50 + i) for i in range(n)]


def _catalog(tmp_path: Path) -> Path:
    path = tmp_path / "catalog.jsonl"
    path.write_text("\n".join(json.dumps({"video_id": k, **v}) for k, v in CATALOG.items()) + "\n")
    return path


def test_a_recovered_dead_letter_counts_once_as_the_event_it_became(own_dataset: Settings, tmp_path: Path) -> None:
    catalog = _catalog(tmp_path)
    # One line of the archive carries no message id.
    lines = [to_json_line(m) for m in _old(4)]
    lines[3] = json.dumps({**json.loads(lines[3]), "message_id": None})
    archive = tmp_path / "archive.jsonl"
    archive.write_text("\n".join(lines) + "\n")
    _replay_into(own_dataset, catalog, f"--input={archive}")
    client = bigquery_client(own_dataset)
    first = read_ledger(client, own_dataset)
    assert first.dead_letters == {Reason.EVENT_TIME_TOO_OLD: 4} and first.balances(4)

    # The limit is fixed: the dead letters replay into events. Replayed twice by mistake, the
    # dead letters already recovered are left alone: the events are stored once.
    for _ in range(2):
        _replay_into(
            own_dataset,
            catalog,
            f"--input=bq://{own_dataset.table_id('dead_letters')}",
            f"--dead_letter_filter=reason = '{Reason.EVENT_TIME_TOO_OLD}'",
            f"--max_event_age_s={7 * 86400}",
        )

    ledger = read_ledger(client, own_dataset)
    # Four messages, four outcomes: each the event it became. The dead letters it recovered
    # are lineage, not outcomes, and not Pub/Sub redeliveries either.
    assert ledger.stored == 4 and ledger.dead_letters == {}
    assert (ledger.replayed, ledger.redelivered, ledger.doubled) == (4, 0, 0)
    assert ledger.balances(4)
    stored = list(client.query(f"SELECT replayed_at FROM `{own_dataset.table_id('events')}`").result())
    assert len(stored) == 4 and all(row.replayed_at is not None for row in stored)


def test_a_replay_that_dead_letters_again_counts_its_own_reason(own_dataset: Settings, tmp_path: Path) -> None:
    catalog = _catalog(tmp_path)
    archive = tmp_path / "archive.jsonl"
    archive.write_text("\n".join(to_json_line(m) for m in _old(3)) + "\n")
    _replay_into(own_dataset, catalog, f"--input={archive}")
    # A "fix" that is not one: replayed under the same limit, they are dead letters again. The
    # second replay reads two dead letters of each message, and replays each message once.
    source = f"--input=bq://{own_dataset.table_id('dead_letters')}"
    _replay_into(own_dataset, catalog, source)
    _replay_into(own_dataset, catalog, source)

    ledger = read_ledger(bigquery_client(own_dataset), own_dataset)
    assert ledger.dead_letters == {Reason.EVENT_TIME_TOO_OLD: 3} and ledger.stored == 0
    assert (ledger.replayed, ledger.redelivered) == (6, 0)
    assert ledger.balances(3)


def test_a_refused_row_goes_back_into_its_table(own_dataset: Settings, tmp_path: Path) -> None:
    row = enriched(paused("u-refused", 1), message_id="m-refused")
    refused = sink_dead_letter(own_dataset.table_id("events"), row, "no such field: catalog_hit")
    client = bigquery_client(own_dataset)
    assert client.insert_rows_json(own_dataset.table_id("dead_letters"), [refused]) == []

    _replay_into(
        own_dataset,
        _catalog(tmp_path),
        f"--input=bq://{own_dataset.table_id('dead_letters')}",
        f"--dead_letter_filter=reason = '{Reason.WAREHOUSE_REJECTED}'",
    )

    events = list(client.query(f"SELECT * FROM `{own_dataset.table_id('events')}`").result())
    assert [(e.event_id, e.message_id, e.catalog_hit) for e in events] == [(row["event_id"], "m-refused", True)]
    assert events[0].replayed_at is not None
    ledger = read_ledger(client, own_dataset)
    # Not decoded as a message (it would be undecodable): the refused row is the event.
    assert ledger.dead_letters == {} and ledger.stored == 1 and ledger.replayed == 1
    assert ledger.balances(1)


def test_a_dead_letter_without_publish_time_replayed_twice_is_stored_once(
    own_dataset: Settings, tmp_path: Path
) -> None:
    """An archive line without a publish time is judged against the clock. Its dead letter,
    replayed twice after the fix, must be recovered once: the ledger knows the message as
    (message id, no publish time), and so must the replay's 'already recovered' check."""
    catalog = _catalog(tmp_path)
    now = int(time.time() * 1000)
    future = paused("u-future", 0, sent_at=now + 600_000)  # ten minutes ahead: beyond 5 minutes
    future = dataclasses.replace(future, event_ts_ms=now + 600_000)
    line = json.loads(to_json_line(message(future, publish_time_ms=now)))
    line["publish_time"] = None
    archive = tmp_path / "archive.jsonl"
    archive.write_text(json.dumps(line) + "\n")
    _replay_into(own_dataset, catalog, f"--input={archive}")
    client = bigquery_client(own_dataset)
    assert read_ledger(client, own_dataset).dead_letters == {Reason.EVENT_TIME_IN_FUTURE: 1}

    for _ in range(2):
        _replay_into(
            own_dataset,
            catalog,
            f"--input=bq://{own_dataset.table_id('dead_letters')}",
            f"--future_tolerance_s={3600}",
        )
    ledger = read_ledger(client, own_dataset)
    assert (ledger.stored, ledger.doubled) == (1, 0), ledger
    assert ledger.balances(1)
