"""`clickstream privacy forget | erase | status` against the BigQuery stand-in.

Rows are seeded as the pipeline writes them: user ids are pseudonyms (HMAC under the stack's key),
a dead letter carries the pseudonym in ``user_id`` and in its payload bytes. The raw id itself
must never reach a table, and after the erasure neither may any of the person's pseudonyms.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from google.api_core.exceptions import BadRequest
from google.cloud import bigquery
from typer.testing import CliRunner

from clickstream.app.cli import app
from clickstream.app.commands import common
from clickstream.app.privacy import erase, forget, requests, rows_deleted
from clickstream.app.signals import SignalParams, run_signals
from clickstream.core.bigquery_clients import bigquery_client
from clickstream.core.config import Settings
from clickstream.core.pseudonyms import Keyring, create_key_file, load_keyring
from clickstream.core.tables import table_specs
from tests.support.warehouse_scan import holders, table_rows, texts
from tests.support.warehouse_seeds import AS_OF, cli_env, event, fresh_dataset, impression, load, session, ts

pytestmark = pytest.mark.integration

FORGOTTEN = "alice@example.com"
KEPT = "bob@example.com"
# BigQuery's own refusal, word for word, for DML over rows still in the streaming buffer.
STREAMING_BUFFER = (
    "UPDATE or DELETE statement over table {table} would affect rows in the streaming buffer, which is not supported"
)


@pytest.fixture
def warehouse(stack: Settings, tmp_path: Path) -> Settings:
    """A fresh dataset and a key of this test's own, rotated once: rows exist under both keys."""
    key = create_key_file(tmp_path / "pseudonym.key")
    key.write_text(Keyring.from_text(key.read_text()).rotated().to_text())
    return replace(fresh_dataset(stack), pseudonym_key=str(key))


def _seed_person(settings: Settings, raw: str, *, key_index: int = 0) -> str:
    """Every kind of row the pipeline keeps for one person, under the key at ``key_index``."""
    user = load_keyring(settings.pseudonym_key_source).all_pseudonyms(raw)[key_index]
    device = load_keyring(settings.pseudonym_key_source).all_pseudonyms(f"device-of-{raw}")[key_index]
    clicked = {**event(user, "v1", "ThumbnailClicked", ts(1)), "device_id": device, "user_agent": None}
    paused = {**event(user, "v1", "VideoPaused", ts(1), position_ms=50_000, duration_ms=100_000), "device_id": device}
    load(settings, "events", [clicked, paused])
    load(settings, "impressions", [{**impression(user, "v1", "home", 1, ts(1)), "device_id": device}])
    load(settings, "sessions", [{**session(user, ts(1), ["v1"], ["v1", "v2"]), "devices": [device]}])
    load(settings, "sessions", [session(user, ts(2), ["v2"], ["v1"])])
    load(
        settings,
        "duplicates",
        [{"event_id": clicked["event_id"], "event_ts": ts(1), "dropped_at": ts(1), "user_id": user}],
    )
    pseudonymised = json.dumps({"event_type": "VideoPaused", "user_id": user, "device_id": device}).encode()
    avro_like = b"\x00\x02\x9c" + user.encode() + b"\xff\xfe" + device.encode() + b"\x00"
    load(
        settings,
        "dead_letters",
        [
            {
                "failed_at": ts(1),
                "stage": stage,
                "reason": "negative_position",
                "error": "position_ms must be >= 0",
                "payload": bigquery_bytes(payload),
                "user_id": user,
                "payload_ids": "pseudonymised",
            }
            for stage, payload in (("collect", pseudonymised), ("validate", avro_like))
        ],
    )
    # A refusal of consent is kept with the person's pseudonym (the record of their refusal).
    load(
        settings,
        "filtered",
        [
            {
                "message_id": f"m-{user[:8]}",
                "publish_time": ts(2),  # before the events above: consent granted again since
                "event_id": str(uuid.uuid4()),
                "event_type": "ThumbnailClicked",
                "reason": "consent_denied",
                "filtered_at": ts(2),
                "user_id": user,
            }
        ],
    )
    return user


def bigquery_bytes(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


def _stored(holders: dict[str, int]) -> dict[str, int]:
    """Only the tables (``_table_rows`` reads the views too)."""
    return {table: n for table, n in holders.items() if table in table_specs()}


def test_forget_then_erase_leaves_no_trace_of_the_person_in_any_table(warehouse: Settings) -> None:
    keyring = load_keyring(warehouse.pseudonym_key_source)
    current = _seed_person(warehouse, FORGOTTEN)
    older = _seed_person(warehouse, FORGOTTEN, key_index=1)  # rows written before the key rotation
    kept = _seed_person(warehouse, KEPT)
    run_signals(bigquery_client(warehouse), warehouse, SignalParams(as_of=AS_OF))
    needles = [FORGOTTEN, *keyring.all_pseudonyms(FORGOTTEN)]
    before = holders(table_rows(warehouse), needles)
    assert {
        "events",
        "sessions",
        "dead_letters",
        "duplicates",
        "filtered",
        "impressions",
        "user_video_affinity",
    } <= set(before)

    forget_args = ["privacy", "forget", "--user", FORGOTTEN, "--reason", "ticket 42"]
    result = CliRunner().invoke(app, forget_args, env=cli_env(warehouse))
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(app, ["privacy", "erase"], env=cli_env(warehouse))
    assert result.exit_code == 0, result.output

    after = table_rows(warehouse)
    [request] = after.pop("deletion_requests")
    # The request itself keeps the pseudonyms (the pipeline's suppression side input reads them),
    # never the raw id; nothing else holds either.
    assert sorted(request["user_ids"]) == sorted([current, older])
    assert FORGOTTEN not in texts(request)
    assert holders(after, needles) == {}
    assert request["status"] == "done" and request["completed_at"] is not None
    deleted = {d["table_name"]: d["rows"] for d in request["rows_deleted"]}
    assert deleted == {
        "events": 4,
        "sessions": 4,
        "dead_letters": 4,
        "duplicates": 2,
        "filtered": 2,
        "impressions": 2,
        "user_video_affinity": before["user_video_affinity"],
    }
    # Another person's rows are all still there.
    assert holders(after, [kept])["events"] == 2
    assert {t for t in holders(after, [kept])} >= {
        "events",
        "sessions",
        "dead_letters",
        "duplicates",
        "filtered",
        "impressions",
        "user_video_affinity",
    }


def test_forget_records_every_pseudonym_and_status_lists_it_pending(warehouse: Settings) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["privacy", "forget", "--user", "carol"], env=cli_env(warehouse))
    assert result.exit_code == 0, result.output
    [request] = requests(bigquery_client(warehouse), warehouse)
    assert request["status"] == "pending" and request["completed_at"] is None
    assert sorted(request["user_ids"]) == sorted(load_keyring(warehouse.pseudonym_key_source).all_pseudonyms("carol"))
    result = runner.invoke(app, ["privacy", "status"], env=cli_env(warehouse))
    assert result.exit_code == 0, result.output
    assert request["request_id"][:8] in result.output and "pending" in result.output
    assert "carol" not in result.output


def test_a_reason_holding_the_raw_id_is_refused_and_nothing_is_recorded(warehouse: Settings) -> None:
    result = CliRunner().invoke(
        app, ["privacy", "forget", "--user", "carol", "--reason", "carol asked by mail"], env=cli_env(warehouse)
    )
    assert result.exit_code == 1 and "reason" in result.output and "Traceback" not in result.output
    assert requests(bigquery_client(warehouse), warehouse) == []


def test_a_missing_key_is_a_clear_error(warehouse: Settings, tmp_path: Path) -> None:
    env = {**cli_env(warehouse), "CLICKSTREAM_PSEUDONYM_KEY": str(tmp_path / "nowhere.key")}
    result = CliRunner().invoke(app, ["privacy", "forget", "--user", "carol"], env=env)
    # rich wraps the long path over lines
    assert (
        result.exit_code == 1 and "nowhere.key" in result.output.replace("\n", "") and "Traceback" not in result.output
    )


class StreamingBuffer:
    """A BigQuery client whose DELETEs on ``table`` are refused as real BigQuery refuses DML over rows
    still in the streaming buffer. The stand-in has no streaming buffer, so this is the one fault
    these tests inject; every other statement runs for real."""

    def __init__(self, client: bigquery.Client, table_id: str) -> None:
        self._client, self._table_id, self.refused = client, table_id, 0

    def query(self, sql: str, *args: Any, **kwargs: Any) -> bigquery.QueryJob:
        if sql.lstrip().upper().startswith("DELETE") and f"`{self._table_id}`" in sql.split("WHERE")[0]:
            self.refused += 1
            raise BadRequest(STREAMING_BUFFER.format(table=self._table_id))
        return self._client.query(sql, *args, **kwargs)


def test_a_table_in_the_streaming_buffer_leaves_the_request_partial_until_the_next_run(warehouse: Settings) -> None:
    client = bigquery_client(warehouse)
    user = _seed_person(warehouse, FORGOTTEN)
    forget(client, warehouse, FORGOTTEN, reason=None)

    refusing = StreamingBuffer(client, warehouse.table_id("events"))
    erase(refusing, warehouse)  # type: ignore[arg-type]
    assert refusing.refused == 1
    [request] = requests(client, warehouse)
    assert request["status"] == "partial" and request["completed_at"] is None
    assert "events" in request["detail"] and "streaming buffer" in request["detail"]
    deleted = {d["table_name"]: d["rows"] for d in request["rows_deleted"]}
    assert "events" not in deleted and deleted["sessions"] == 2  # the other tables went ahead
    assert _stored(holders(table_rows(warehouse), [user])) == {"events": 2, "deletion_requests": 1}

    erase(client, warehouse)  # the next run: the buffer has been flushed
    [request] = requests(client, warehouse)
    assert (request["status"], request["detail"]) == ("done", None)
    assert request["completed_at"] is not None
    deleted = {d["table_name"]: d["rows"] for d in request["rows_deleted"]}
    assert deleted == {"events": 2, "sessions": 2, "dead_letters": 2, "duplicates": 1, "filtered": 1, "impressions": 1}
    assert holders(table_rows(warehouse), [user]) == {"deletion_requests": 1}


def test_rows_arriving_after_a_done_erasure_are_deleted_by_the_next_run(warehouse: Settings) -> None:
    # The pipeline may still store rows of the person after the request is done (its deletion
    # requests are read once locally, refreshed every few minutes on Dataflow; open session
    # windows still fire): later runs keep sweeping a done request for the suppression period.
    client = bigquery_client(warehouse)
    _seed_person(warehouse, FORGOTTEN)
    forget(client, warehouse, FORGOTTEN, reason="ticket 7")
    erase(client, warehouse)
    [first] = requests(client, warehouse)
    assert first["status"] == "done"
    user = _seed_person(warehouse, FORGOTTEN)  # late arrivals
    erase(client, warehouse)
    [again] = requests(client, warehouse)
    assert holders(table_rows(warehouse), [user]) == {"deletion_requests": 1}
    assert (again["status"], again["completed_at"]) == ("done", first["completed_at"])  # done stays final
    assert again["last_run_at"] > first["last_run_at"]
    totals = rows_deleted(again)
    assert totals == {"events": 4, "sessions": 4, "dead_letters": 4, "duplicates": 2, "filtered": 2, "impressions": 2}


def test_a_done_request_older_than_the_sweep_period_is_left_alone(warehouse: Settings) -> None:
    client = bigquery_client(warehouse)
    forget(client, warehouse, "dave", reason="ticket 7")
    erase(client, warehouse)
    [first] = requests(client, warehouse)
    assert (first["status"], first["rows_deleted"]) == ("done", [])  # nothing to delete is done too
    user = _seed_person(warehouse, "dave")
    result = CliRunner().invoke(app, ["privacy", "erase", "--sweep-days", "0"], env=cli_env(warehouse))
    assert result.exit_code == 0, result.output
    [again] = requests(client, warehouse)
    assert again == first
    assert _stored(holders(table_rows(warehouse), [user]))["events"] == 2


def test_status_shows_progress_per_table(warehouse: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common.console, "width", 400)  # one line per request, to read it back
    client = bigquery_client(warehouse)
    _seed_person(warehouse, FORGOTTEN)
    forget(client, warehouse, FORGOTTEN, reason="ticket 9")
    erase(StreamingBuffer(client, warehouse.table_id("sessions")), warehouse)  # type: ignore[arg-type]
    result = CliRunner().invoke(app, ["privacy", "status"], env=cli_env(warehouse))
    assert result.exit_code == 0, result.output
    assert "partial" in result.output and "events 2" in result.output and "streaming buffer" in result.output
    assert FORGOTTEN not in result.output
