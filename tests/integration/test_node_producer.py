"""The Node.js producer in examples/node-producer (the official Pub/Sub client and avsc, written
from "Publishing from another language" in docs/emitters.md) against the real emulator: its messages
decode with the Python contract, a bad message in its batch is refused alone, and the streaming
pipeline stores its events in BigQuery."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time

import pytest

from clickstream.app import provisioning
from clickstream.app.local import runner
from clickstream.core import attributes, contract
from clickstream.core.bigquery_clients import bigquery_client
from clickstream.core.config import Settings
from clickstream.core.paths import REPO_ROOT
from clickstream.core.pseudonyms import load_keyring
from tests.support.events import pull_all

pytestmark = pytest.mark.integration

PRODUCER = REPO_ROOT / "examples" / "node-producer"


@pytest.fixture(scope="module")
def node_producer() -> list[str]:
    """`node publish.mjs`, its dependencies installed from package-lock.json when missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node and npm, "node and npm are needed for the Node producer test (Node 20+)"
    if not (PRODUCER / "node_modules" / "@google-cloud" / "pubsub").is_dir():
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--prefer-offline"],
            cwd=PRODUCER,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, f"npm ci failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
    return [node, str(PRODUCER / "publish.mjs")]


def _run(command: list[str], settings: Settings, *args: str) -> tuple[int, list[dict[str, str]], str]:
    env = {
        **os.environ,
        "PUBSUB_EMULATOR_HOST": settings.pubsub_emulator_host or "",
        "CLICKSTREAM_PROJECT": settings.project,
        "CLICKSTREAM_TOPIC": settings.topic,
    }
    result = subprocess.run([*command, *args], env=env, capture_output=True, text=True, timeout=120)
    outcomes = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return result.returncode, outcomes, result.stderr


def test_node_producer_messages_decode_with_the_python_contract(
    node_producer: list[str], fresh_topic: Settings
) -> None:
    code, outcomes, stderr = _run(node_producer, fresh_topic)
    assert code == 0, stderr
    assert [(o["event_type"], o["outcome"]) for o in outcomes] == [
        ("VideoPaused", "published"),
        ("ThumbnailClicked", "published"),
    ]

    received = pull_all(fresh_topic, expect=2)
    assert len(received) == 2
    by_type = {}
    for item in received:
        attrs = dict(item.message.attributes)
        assert attrs[attributes.SCHEMA_VERSION] == contract.current_version()
        assert attrs["googclient_schemaencoding"] == "BINARY"  # the topic validated the bytes
        # Pub/Sub names the schema revision that matched by its own id; that is not schema_version
        # (the version in the schema file's name, which the producer sets and the pipeline reads).
        assert attrs["googclient_schemarevisionid"] not in ("", attrs[attributes.SCHEMA_VERSION]), attrs
        record = contract.decode(item.message.data, attrs[attributes.SCHEMA_VERSION])
        # The same four attributes the Python emitter sets, equal to the payload's fields.
        assert {k: attrs[k] for k in attributes.contract_attributes(record)} == attributes.contract_attributes(record)
        by_type[record["event_type"]] = record

    paused, clicked = by_type["VideoPaused"], by_type["ThumbnailClicked"]
    assert paused["payload"][0] == contract.payload_branch("VideoPaused")
    assert paused["payload"][1]["position_ms"] == 61_000
    assert clicked["payload"][0] == contract.payload_branch("ThumbnailClicked")
    assert (clicked["payload"][1]["slot"], clicked["payload"][1]["surface"]) == (3, "home")
    # Milliseconds, not seconds: within a minute of now.
    assert abs(paused["event_ts"] - time.time() * 1000) < 60_000
    assert {o["event_id"] for o in outcomes} == {r["event_id"] for r in by_type.values()}


def test_a_bad_message_in_the_node_producers_batch_is_refused_alone(
    node_producer: list[str], fresh_topic: Settings
) -> None:
    code, outcomes, stderr = _run(node_producer, fresh_topic, "--with-bad-message")
    assert code == 2, stderr
    assert [o["outcome"] for o in outcomes] == ["published", "rejected", "published"]
    good = [o for o in outcomes if o["outcome"] == "published"]
    # Pub/Sub failed the whole batch; the producer re-sent its messages alone.
    assert all(o.get("resent_alone") for o in good), outcomes
    received = pull_all(fresh_topic, expect=2)
    assert sorted(dict(m.message.attributes)["event_id"] for m in received) == sorted(o["event_id"] for o in good)


def test_the_pipeline_stores_the_node_producers_events_in_bigquery(
    node_producer: list[str], stack: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = stack.isolated("node")  # a topic, subscriptions and dataset of this test's own
    provisioning.provision(settings)
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", settings.pubsub_emulator_host)
    results: dict[str, object] = {}
    stop = runner.LocalStop(max_runtime_s=120, idle_stop_s=20)
    thread = threading.Thread(
        target=lambda: results.setdefault("result", runner.run(settings.pipeline_args(), stop)), daemon=True
    )
    thread.start()
    time.sleep(5)  # let the pipeline subscribe

    code, outcomes, stderr = _run(node_producer, settings, "--user-id", "node-user-bq")
    assert code == 0, stderr
    ids = {o["event_id"]: o["event_type"] for o in outcomes}

    client = bigquery_client(settings)
    stored_as = load_keyring(settings.pseudonym_key_source).pseudonym("node-user-bq")  # never the raw id
    sql = f"SELECT event_id, event_type, user_id FROM `{settings.table_id('events')}` WHERE user_id = '{stored_as}'"
    rows: list = []
    deadline = time.monotonic() + 90
    while len(rows) < 2 and time.monotonic() < deadline:
        rows = list(client.query(sql).result())
        time.sleep(2)
    thread.join(timeout=150)
    assert "result" in results, "the pipeline thread did not finish"
    assert {row.event_id: row.event_type for row in rows} == ids


def test_gcloud_reaches_the_emulator_only_without_credentials_and_cannot_send_a_contract_event(
    fresh_topic: Settings,
) -> None:
    """The warning in docs/emitters.md: `gcloud pubsub topics publish` sends a command-line string, which is
    not Avro BINARY, so the schema-enforced topic refuses it; against the emulator it also needs
    CLOUDSDK_AUTH_DISABLE_CREDENTIALS=true (it has no Google login to offer)."""
    gcloud = shutil.which("gcloud")
    assert gcloud, "the Google Cloud SDK is a prerequisite of the local stack"
    env = {
        **os.environ,
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB": f"http://{fresh_topic.pubsub_emulator_host}/",
        "CLOUDSDK_AUTH_DISABLE_CREDENTIALS": "true",
        "CLOUDSDK_CORE_PROJECT": fresh_topic.project,
    }
    command = [gcloud, "pubsub", "topics", "publish", fresh_topic.topic, '--message={"event_type": "VideoPaused"}']
    command += ["--attribute=event_type=VideoPaused", "--quiet"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0, result.stdout
    assert "schema" in result.stderr.lower() or "invalid" in result.stderr.lower(), result.stderr[-2000:]
    assert pull_all(fresh_topic, idle_s=2.0) == []
