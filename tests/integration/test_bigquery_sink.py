"""The BigQuery sink: refused rows become dead letters; an unreachable warehouse fails loudly."""

from __future__ import annotations

import base64
import json
import uuid

import apache_beam as beam
import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from clickstream.app.local import processes
from clickstream.core.bigquery_clients import bigquery_client
from clickstream.core.config import Settings
from pipelines.transforms.bigquery_sink import WriteRows
from tests.support.teststream import Collect, collector

pytestmark = pytest.mark.integration


def _duplicate_row(event_id: str, **overrides: object) -> dict:
    row = {
        "event_id": event_id,
        "message_id": "m",
        "publish_time": "2026-01-01T00:00:00.000Z",
        "event_ts": "2026-01-01T00:00:00.000Z",
        "dropped_at": "2026-01-01T00:00:01.000Z",
    }
    row.update(overrides)
    return row


def test_rows_the_warehouse_refuses_become_dead_letters_and_good_rows_land(stack: Settings) -> None:
    tag = uuid.uuid4().hex[:8]
    good = [_duplicate_row(f"good-{tag}-{i}") for i in range(3)]
    bad = _duplicate_row(f"bad-{tag}", event_ts="not a timestamp")
    key, dead = collector()
    with beam.Pipeline(runner=FnApiRunner()) as p:
        rejected = (
            p
            | beam.Create([*good, bad])
            | WriteRows(stack.project, stack.table_id("duplicates"), stack.bigquery_endpoint, row_id=("event_id",))
        )
        rejected | beam.ParDo(Collect(key))
    assert len(dead) == 1
    (letter,) = dead
    assert letter["stage"] == "sink" and letter["reason"] == "warehouse_rejected"
    assert letter["event_id"] == f"bad-{tag}" and letter["refused_table"] == "duplicates"
    assert json.loads(base64.b64decode(letter["payload"]))["event_ts"] == "not a timestamp"  # replayable

    client = bigquery_client(stack)
    landed = list(
        client.query(
            f"SELECT event_id FROM `{stack.table_id('duplicates')}` WHERE STARTS_WITH(event_id, 'good-{tag}')"
        ).result()
    )
    assert sorted(r.event_id for r in landed) == sorted(r["event_id"] for r in good)


def test_an_unreachable_warehouse_fails_the_bundle_instead_of_dropping_rows(stack: Settings) -> None:
    dead_endpoint = f"http://127.0.0.1:{processes.free_port()}"  # nothing listens here
    with pytest.raises(Exception, match=r"(?i)retry|connect|timeout|refused"), beam.Pipeline(runner=FnApiRunner()) as p:
        _ = (
            p
            | beam.Create([_duplicate_row("x")])
            | WriteRows(
                stack.project, stack.table_id("duplicates"), dead_endpoint, row_id=("event_id",), retry_deadline_s=3
            )
        )
