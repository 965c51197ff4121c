"""The last resort: a dead letter the ``dead_letters`` table refuses is parked on Pub/Sub.

Every other refused row becomes a dead letter; a refused dead letter has no table left to go
to, so it is published to ``--parked_topic`` (a topic with a subscription, which keeps it for
the subscription's retention, and ``clickstream replay`` can read it back). The message is the
refused dead-letter row as JSON, so ``pipelines.messages.raw_from_dead_letter`` rebuilds the
original message from it; attributes say which table refused it and why.

Nothing is acknowledged as parked until Pub/Sub has it: the bundle waits for every publish
and fails if one fails, and without a topic it fails outright, so the runner retries it
(Dataflow retries a streaming bundle until it succeeds). Never nowhere.
"""

from __future__ import annotations

import base64
import logging
import os
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from clickstream.core.config import Settings
from clickstream.core.pubsub_clients import publisher_client
from pipelines.transforms import METRICS_NAMESPACE
from pipelines.worker_clients import kept_per_thread

log = logging.getLogger(__name__)
_MAX_ATTRIBUTE_BYTES = 1024  # Pub/Sub allows 1024 bytes per attribute value
# The attribute that tells a parked dead-letter row from a message Pub/Sub parked itself (the
# dead-letter subscription's policy parks raw messages on the same topic); replay reads both.
PARKED = "clickstream_parked"
PARKED_DEAD_LETTER_ROW = "dead_letter_row"


def parked_message(refused: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """(data, attributes) of the Pub/Sub message that parks one refused dead letter.

    ``refused`` is the sink's dead letter for the refused row: its payload is that row."""
    data = base64.b64decode(refused["payload"]) if refused.get("payload") else b""
    attributes = {
        PARKED: PARKED_DEAD_LETTER_ROW,
        "refused_table": refused.get("refused_table") or "",
        # Cut in bytes, not characters, on a character boundary.
        "error": (refused.get("error") or "").encode()[:_MAX_ATTRIBUTE_BYTES].decode("utf-8", "ignore"),
    }
    return data, attributes


class _ParkFn(beam.DoFn):
    def __init__(self, topic: str | None):
        self.topic = topic
        self.parked = Metrics.counter(METRICS_NAMESPACE, "parked")

    def setup(self) -> None:
        # Pub/Sub's emulator is picked up from PUBSUB_EMULATOR_HOST, as ReadFromPubSub does.
        # Keyed by the emulator too: all a publisher's Settings decide (tests start stacks of their own).
        key = (publisher_client, os.environ.get("PUBSUB_EMULATOR_HOST"))
        self._publisher = kept_per_thread(key, lambda: publisher_client(Settings.from_env())) if self.topic else None

    def start_bundle(self) -> None:
        self._futures: list[Any] = []

    def process(self, refused: dict[str, Any]) -> None:
        if self._publisher is None:
            raise RuntimeError(
                f"the dead_letters table refused a dead letter ({refused.get('error')}) and no --parked_topic is "
                "set: failing the bundle so the runner retries it; fix the table or set --parked_topic"
            )
        data, attributes = parked_message(refused)
        log.error("parking a dead letter the warehouse refused on %s: %s", self.topic, attributes["error"])
        self._futures.append(self._publisher.publish(self.topic, data, **attributes))

    def finish_bundle(self) -> None:
        for future in self._futures:
            future.result(timeout=120)  # raises: the bundle fails and is retried
            self.parked.inc()
        self._futures = []


class ParkRefusedDeadLetters(beam.PTransform):
    """Refused dead letters -> messages on ``topic``; returns nothing downstream needs."""

    def __init__(self, topic: str | None):
        super().__init__()
        self.topic = topic

    def expand(self, refused):
        return refused | "Publish" >> beam.ParDo(_ParkFn(self.topic))
