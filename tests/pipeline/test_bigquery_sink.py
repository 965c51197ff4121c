"""WriteRows (INSERT_ALL) against an in-memory client, for what the real stand-in cannot show:
transient faults (quota, 5xx) mid-request, the request size, a refused row with an unreadable
publish time. Insert ids and refused rows against a real BigQuery API (the local stand-in) are
tests/integration/test_bigquery_sink.py.
"""

from __future__ import annotations

import base64
import concurrent.futures
import json
import threading
from typing import Any

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import StandardOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to
from google.api_core import exceptions as gexc

from clickstream.core.tables import table_specs
from pipelines.graph import process, write_to_bigquery
from pipelines.rules import bigquery_sink as sink_rules
from pipelines.transforms import bigquery_sink, park
from pipelines.transforms.bigquery_sink import WriteRows, sink_dead_letter
from pipelines.transforms.park import ParkRefusedDeadLetters, parked_message
from tests.support.teststream import (
    CATALOG,
    at,
    batch_pipeline,
    clicked,
    message,
    new_stream,
    options,
    paused,
    pipeline,
    shown,
    streaming_pipeline,
)

TABLE = "test-project.clickstream.duplicates"


class FakeClient:
    """insert_rows_json as google-cloud-bigquery has it: refuses the rows ``refuse`` picks, and
    raises ``fail_first`` (one error per call) before it accepts anything."""

    def __init__(self, refuse=lambda row: False, fail_first: list[Exception] | None = None):
        self.refuse = refuse
        self.fail_first = list(fail_first or [])
        self.fail_at: dict[int, Exception] = {}  # attempt number (from 1) -> error it raises
        self.calls: list[dict[str, Any]] = []
        self.attempts = 0
        self._lock = threading.Lock()

    def insert_rows_json(self, table, rows, row_ids=None, skip_invalid_rows=False, retry=None, timeout=None):
        def attempt():
            with self._lock:
                self.attempts += 1
                if self.fail_first:
                    raise self.fail_first.pop(0)
                if self.attempts in self.fail_at:
                    raise self.fail_at.pop(self.attempts)
                self.calls.append({"table": table, "rows": list(rows), "row_ids": row_ids, "skip": skip_invalid_rows})
            return [{"index": i, "errors": [{"reason": "invalid"}]} for i, row in enumerate(rows) if self.refuse(row)]

        return retry(attempt)() if retry else attempt()


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch):
    """Install a FakeClient as the sink's client; the test configures it before running."""
    fake = FakeClient()
    # The in-process runner runs the DoFn in this process: setup() finds the patched factory.
    monkeypatch.setattr(bigquery_sink, "bigquery_client", lambda settings: fake)
    return fake


def _row(i: int, **overrides: Any) -> dict[str, Any]:
    row = {
        "event_id": f"e-{i}",
        "message_id": f"m-{i}",
        "publish_time": "2026-01-01T00:00:00.000Z",
        "event_ts": "2026-01-01T00:00:00.000Z",
        "dropped_at": "2026-01-01T00:00:01.000Z",
    }
    row.update(overrides)
    return row


def _write(rows: list[dict], check, **kw: Any) -> None:
    with batch_pipeline() as p:
        rejected = p | beam.Create(rows) | WriteRows("test-project", TABLE, row_id=("event_id",), **kw)
        assert_that(rejected, check)


def test_a_large_bundle_is_sent_in_requests_of_at_most_500_rows(client: FakeClient) -> None:
    _write([_row(i) for i in range(1201)], equal_to([]))
    sizes = [len(call["rows"]) for call in client.calls]
    assert sum(sizes) == 1201 and max(sizes) <= 500
    assert sorted(r["event_id"] for call in client.calls for r in call["rows"]) == sorted(f"e-{i}" for i in range(1201))


def test_transient_errors_are_retried_and_nothing_is_written_twice(client: FakeClient) -> None:
    client.fail_first = [gexc.ServiceUnavailable("try again"), ConnectionError("reset")]
    _write([_row(0), _row(1)], equal_to([]))
    assert client.attempts == 3
    assert [r["event_id"] for call in client.calls for r in call["rows"]] == ["e-0", "e-1"]


def test_an_error_that_is_not_transient_fails_the_pipeline(client: FakeClient) -> None:
    client.fail_first = [gexc.Forbidden("no access to the dataset")]
    with pytest.raises(Exception, match="no access to the dataset"):
        _write([_row(0)], equal_to([]))
    assert client.attempts == 1 and client.calls == []


def test_a_refused_row_with_an_unreadable_publish_time_still_makes_a_dead_letter() -> None:
    letter = sink_dead_letter("p.d.events", _row(0, publish_time="yesterday", event_type="VideoPaused"), "bad")
    assert letter["publish_time"] is None and letter["refused_table"] == "events"
    assert letter["event_type"] == "VideoPaused" and letter["error"] == "p.d.events: bad"
    assert dict((a["key"], a["value"]) for a in letter["attributes"]) == {"table": "p.d.events"}


def _quota(reason: str) -> gexc.Forbidden:
    """What google-cloud-bigquery raises for BigQuery's HTTP 403 quota answers."""
    return gexc.Forbidden(f"Exceeded {reason}", errors=[{"reason": reason, "message": "quota"}])


@pytest.mark.parametrize("reason", ["rateLimitExceeded", "quotaExceeded"])
def test_quota_errors_answered_as_403_are_retried(client: FakeClient, reason: str) -> None:
    # Four 403s in a row: more than the local runner's four attempts at a bundle, so only a
    # retry inside the sink gets the rows through.
    client.fail_first = [_quota(reason) for _ in range(4)]
    _write([_row(0), _row(1)], equal_to([]))
    assert client.attempts == 5
    assert [r["event_id"] for call in client.calls for r in call["rows"]] == ["e-0", "e-1"]


def test_a_retried_bundle_resends_every_row_with_the_same_row_id(client: FakeClient) -> None:
    """600 duplicates rows in one bundle: 500 are flushed in the middle of it, then the last
    request fails with an error that is not transient and the runner retries the whole bundle.
    The 500 go again, so each must carry the same row id (BigQuery's insertId) both times,
    derived from the row, never a fresh one per call."""
    client.fail_at = {2: gexc.BadRequest("the second request of the bundle fails once")}
    rows = [_row(i, dropped_at=f"2026-01-01T00:00:0{i % 10}.000Z") for i in range(600)]
    stream = new_stream().add_elements(rows).advance_watermark_to_infinity()
    with streaming_pipeline() as p:
        p | stream | WriteRows("test-project", TABLE, row_id=("message_id", "publish_time"))
    ids_by_message: dict[str, set] = {}
    for call in client.calls:
        for row, row_id in zip(call["rows"], call["row_ids"] or [None] * len(call["rows"]), strict=True):
            ids_by_message.setdefault(row["message_id"], set()).add(row_id)
    assert len(ids_by_message) == 600
    assert sum(len(call["rows"]) for call in client.calls) > 600, "the bundle was not retried"
    assert all(len(ids) == 1 and None not in ids for ids in ids_by_message.values())
    assert len({next(iter(ids)) for ids in ids_by_message.values()}) == 600  # distinct rows, distinct ids


def test_a_refused_dead_letter_without_a_parked_topic_fails_the_bundle(client: FakeClient) -> None:
    """Nowhere is not an option: with no topic to park on, the bundle fails (and a runner
    that retries bundles tries again) instead of the dead letter vanishing."""
    client.refuse = lambda row: True
    with pytest.raises(Exception, match="no --parked_topic is set"), batch_pipeline() as p:
        refused = (
            p
            | beam.Create([_row(0)])
            | WriteRows("test-project", "test-project.clickstream.dead_letters", row_id=("event_id",))
        )
        refused | ParkRefusedDeadLetters(None)


def test_a_parked_message_is_the_refused_row_with_its_table_and_error() -> None:
    refused_letter = {"message_id": "m-1", "publish_time": "2026-01-01T00:00:00.000Z", "reason": "empty_payload"}
    data, attributes = parked_message(sink_dead_letter("p.d.dead_letters", refused_letter, "x" * 5000))
    assert json.loads(data) == refused_letter
    assert attributes["refused_table"] == "dead_letters" and len(attributes["error"]) == 1024


def test_a_parked_error_attribute_fits_pubsubs_limit_in_bytes() -> None:
    """Pub/Sub allows 1024 bytes per attribute value: a long non-ASCII error cut to 1024
    characters would be refused, and the bundle retried for ever."""
    letter = sink_dead_letter("p.d.dead_letters", {"message_id": "m-1"}, "é" * 3000)
    _, attributes = parked_message(letter)
    assert 0 < len(attributes["error"].encode()) <= 1024


@pytest.mark.parametrize("streaming", [True, False], ids=["streaming", "batch"])
def test_impressions_are_written_with_their_row_ids_and_a_refused_one_becomes_a_dead_letter(
    client: FakeClient, streaming: bool
) -> None:
    """Streaming, and the batch graph (a replay into BigQuery), whose impressions travel as one
    element per person (``Outputs.grouped``): the sink still gets one row per thumbnail, each
    with its row id."""
    event = shown("amy", 1)
    client.refuse = lambda row: row.get("impression_id") == "req-1-2"
    opts = options(project="test-project", dataset="clickstream")
    if streaming:
        p, messages = pipeline(opts), new_stream().add_elements(at([message(event)])).advance_watermark_to_infinity()
    else:
        opts.view_as(StandardOptions).streaming = False
        p, messages = beam.Pipeline(runner=FnApiRunner(), options=opts), beam.Create([message(event)])
    with p:
        write_to_bigquery(process(p | messages, opts, p | "Catalog" >> beam.Create([CATALOG])), opts)

    written = [c for c in client.calls if c["table"].endswith(".impressions")]
    rows = [row for call in written for row in call["rows"]]
    ids = [i for call in written for i in call["row_ids"]]
    assert sorted(r["impression_id"] for r in rows) == ["req-1-1", "req-1-2", "req-1-3"]
    assert sorted(ids) == sorted(sink_rules.row_id(r, table_specs()["impressions"].row_id) for r in rows)
    assert not [c for c in client.calls if c["table"].endswith(".events")]  # what was shown is no event
    dead = [row for c in client.calls if c["table"].endswith(".dead_letters") for row in c["rows"]]
    assert [(d["reason"], d["refused_table"], d["event_id"]) for d in dead] == [
        ("warehouse_rejected", "impressions", event.event_id)
    ]
    assert json.loads(base64.b64decode(dead[0]["payload"]))["impression_id"] == "req-1-2"


def test_a_batch_graph_sends_each_table_its_rows_not_a_persons_lists(client: FakeClient) -> None:
    """A replay into BigQuery: the grouped tables (``by_user.GROUPED_OUTPUTS``) travel as one
    list per person, and each sink gets them back as rows, each with its own row id."""
    amy = [paused("amy", 0), clicked("amy", 20)]
    delivered = [message(e) for e in amy] + [
        message(amy[0], publish_delay_ms=2_000, message_id="m-again"),
        message(shown("bob", 5)),
    ]
    opts = options(project="test-project", dataset="clickstream")
    opts.view_as(StandardOptions).streaming = False
    with beam.Pipeline(runner=FnApiRunner(), options=opts) as p:
        write_to_bigquery(process(p | beam.Create(delivered), opts, p | "Catalog" >> beam.Create([CATALOG])), opts)

    sent: dict[str, list[dict[str, Any]]] = {}
    for call in client.calls:
        table = call["table"].rsplit(".", 1)[1]
        assert all(isinstance(row, dict) for row in call["rows"]), call
        assert call["row_ids"] == [sink_rules.row_id(r, table_specs()[table].row_id) for r in call["rows"]]
        sent.setdefault(table, []).extend(call["rows"])
    assert set(sent) == {"events", "duplicates", "sessions", "impressions"}  # nothing dead-lettered
    assert sorted(r["event_id"] for r in sent["events"]) == sorted(e.event_id for e in amy)
    assert [r["message_id"] for r in sent["duplicates"]] == ["m-again"]
    assert [r["event_count"] for r in sent["sessions"]] == [2]
    assert len(sent["impressions"]) == 3


def test_the_local_runner_builds_one_client_however_many_bundles_it_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The local streaming runner unpickles a fresh copy of every DoFn and calls its setup() for
    every bundle; a client built in setup() was six new clients (and connections) per bundle
    (docs/local-streaming.md)."""
    fake, built = FakeClient(), []
    monkeypatch.setattr(bigquery_sink, "bigquery_client", lambda settings: built.append(settings) or fake)
    stream = new_stream()
    for i in range(4):  # each batch of elements is a bundle of its own on the local runner
        stream = stream.add_elements([_row(i)]).advance_processing_time(1)
    with streaming_pipeline() as p:
        rejected = p | stream.advance_watermark_to_infinity() | WriteRows("test-project", TABLE, row_id=("event_id",))
        assert_that(rejected, equal_to([]))
    assert sorted(r["event_id"] for call in fake.calls for r in call["rows"]) == ["e-0", "e-1", "e-2", "e-3"]
    assert len(fake.calls) == 4, "the four rows did not arrive in four bundles: the test shows nothing"
    assert len(built) == 1


class RecordingPublisher:
    """publish() as google-cloud-pubsub has it: a future that is already done."""

    def __init__(self) -> None:
        self.published: list[tuple[str, bytes, dict[str, str]]] = []

    def publish(self, topic: str, data: bytes, **attributes: str):
        self.published.append((topic, data, attributes))
        done: concurrent.futures.Future = concurrent.futures.Future()
        done.set_result(str(len(self.published)))
        return done


def test_the_local_runner_builds_one_parking_publisher_however_many_bundles_it_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As for the sink's client: a publisher (a gRPC channel, credentials looked up on disk) per
    bundle of the dead-letter sink."""
    publisher, built = RecordingPublisher(), []
    monkeypatch.setattr(park, "publisher_client", lambda settings: built.append(settings) or publisher)
    refused = [sink_dead_letter("p.d.dead_letters", _row(i), "no such field") for i in range(4)]
    stream = new_stream()
    for letter in refused:  # each batch of elements is a bundle of its own on the local runner
        stream = stream.add_elements([letter]).advance_processing_time(1)
    with streaming_pipeline() as p:
        _ = p | stream.advance_watermark_to_infinity() | ParkRefusedDeadLetters("projects/p/topics/parked")
    assert sorted(data for _, data, _ in publisher.published) == sorted(parked_message(r)[0] for r in refused)
    assert len(built) == 1
