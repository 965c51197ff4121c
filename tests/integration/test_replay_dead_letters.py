"""Re-process dead letters after a fix: bq://...dead_letters -> replay -> events."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from clickstream.core.bigquery_clients import bigquery_client
from clickstream.core.config import Settings
from pipelines import replay
from pipelines.rules.decode import Limits, decode_and_validate
from tests.support.teststream import T0_MS, message, paused

pytestmark = pytest.mark.integration


def test_dead_letters_replay_into_events_once_the_limit_is_fixed(stack: Settings, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    # Events 5 days old at publish: dead letters under the default 3-day maximum age.
    old = [paused(f"late-{tag}", i, sent_at=T0_MS + 5 * 86_400_000) for i in range(5)]
    dead = [
        decode_and_validate(message(e, publish_time_ms=T0_MS + 5 * 86_400_000 + 50), Limits()).dead_letter for e in old
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
        ]
    )
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    assert sorted(e["event_id"] for e in events) == sorted(e.event_id for e in old)
    assert (out / "dead_letters.jsonl").read_text() == ""
    assert all(e["message_id"].startswith("m-") for e in events)  # the original message ids survive
