"""A dead letter the dead_letters table refuses is parked on Pub/Sub, never dropped.

Real parts: the Pub/Sub emulator holds the parked messages, the BigQuery stand-in refuses the
rows (this test's dead_letters table declares ``stage`` INTEGER, as a drifted schema would).
"""

from __future__ import annotations

import json
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from clickstream.app import provisioning
from clickstream.core.bigquery_clients import bigquery_client
from clickstream.core.config import Settings
from pipelines import replay
from pipelines.graph import process, write_to_bigquery
from pipelines.messages import RawMessage, raw_from_dead_letter
from pipelines.options import ClickstreamOptions
from tests.support.events import pull_all
from tests.support.reliability import drift_column
from tests.support.teststream import CATALOG, T0_MS

pytestmark = pytest.mark.integration


MESSAGES = [
    RawMessage(data=b"", attributes={"k": "v"}, message_id=f"m-{i}", publish_time_ms=T0_MS + i) for i in range(3)
]


@pytest.fixture
def parked_three(stack: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Three messages the pipeline dead-letters, into a dead_letters table that refuses them all."""
    settings = stack.isolated("parked")
    # The pipeline finds the emulator as its Pub/Sub read does, through the environment.
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", settings.pubsub_emulator_host or "")
    provisioning.provision(settings)
    drift_column(bigquery_client(settings), settings, "dead_letters", "stage")
    options = PipelineOptions(settings.pipeline_args(read_subscription=False)).view_as(ClickstreamOptions)
    with beam.Pipeline(runner=FnApiRunner(), options=options) as p:
        outputs = process(p | beam.Create(MESSAGES), options, p | "Catalog" >> beam.Create([CATALOG]))
        write_to_bigquery(outputs, options)
    return settings


def test_dead_letters_the_warehouse_refuses_are_parked_on_pubsub(parked_three: Settings) -> None:
    settings, messages = parked_three, MESSAGES
    parked = [r.message for r in pull_all(settings, settings.parked_subscription_path, expect=3, timeout_s=30)]
    assert len(parked) == 3, "a dead letter the warehouse refused went nowhere"
    rows = [json.loads(m.data) for m in parked]
    # Each parked message is the refused dead-letter row: replay rebuilds the original message.
    assert sorted((raw_from_dead_letter(r) for r in rows), key=lambda m: m.message_id) == messages
    assert {r["reason"] for r in rows} == {"empty_payload"}
    assert all(m.attributes["refused_table"] == "dead_letters" and m.attributes["error"] for m in parked)


def test_a_parked_dead_letter_replays_as_the_message_it_was(parked_three: Settings, tmp_path: Path) -> None:
    """``clickstream replay --input pubsub://<parked subscription>`` re-processes the original
    messages (here they dead-letter again, for the same reason, under their own ids)."""
    settings = parked_three
    replay.run(
        [
            f"--input=pubsub://{settings.parked_subscription_path}",
            f"--output_dir={tmp_path}",
            f"--project={settings.project}",
            f"--bigquery_endpoint={settings.bigquery_endpoint}",
            f"--dataset={settings.dataset}",
            f"--pseudonym_key={settings.pseudonym_key_source}",
        ]
    )
    letters = [json.loads(line) for line in (tmp_path / "dead_letters.jsonl").read_text().splitlines()]
    assert sorted((d["message_id"], d["reason"]) for d in letters) == [
        (m.message_id, "empty_payload") for m in MESSAGES
    ]
    assert (tmp_path / "events.jsonl").read_text() == ""
