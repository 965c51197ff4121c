"""Stage 0: the events the HTTP collector refused (its rejected topic) become dead letters."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipelines.messages import RawMessage
from pipelines.rules.collect import rejected_dead_letter
from pipelines.transforms import METRICS_NAMESPACE


class _RejectedFn(beam.DoFn):
    def __init__(self) -> None:
        self.rejected = Metrics.counter(METRICS_NAMESPACE, "collector_rejected")

    def process(self, raw: RawMessage):
        self.rejected.inc()
        yield rejected_dead_letter(raw)


class RejectedToDeadLetters(beam.PTransform):
    """RawMessage of the rejected topic -> exactly one ``dead_letters`` row (stage ``collect``)."""

    def expand(self, messages):
        return messages | "RejectedToDeadLetter" >> beam.ParDo(_RejectedFn())
