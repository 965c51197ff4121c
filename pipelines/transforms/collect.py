"""Stage 0: the events the HTTP collector refused (its rejected topic) become dead letters."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics import Metrics

from clickstream.core.pseudonyms import Keyring, load_keyring
from pipelines.messages import RawMessage
from pipelines.rules.collect import rejected_dead_letter
from pipelines.rules.privacy_filter import GRANTED
from pipelines.transforms import METRICS_NAMESPACE
from pipelines.transforms.decode import require_pseudonym_key


class _RejectedFn(beam.DoFn):
    def __init__(self, pseudonym_key: str, consent_default: str) -> None:
        self.pseudonym_key = pseudonym_key
        self.consent_default = consent_default
        self._keyring: Keyring | None = None
        self.rejected = Metrics.counter(METRICS_NAMESPACE, "collector_rejected")

    def setup(self) -> None:
        self._keyring = load_keyring(self.pseudonym_key)

    def process(self, raw: RawMessage):
        self.rejected.inc()
        yield rejected_dead_letter(raw, self._keyring, consent_default=self.consent_default)


class RejectedToDeadLetters(beam.PTransform):
    """RawMessage of the rejected topic -> exactly one ``dead_letters`` row (stage ``collect``),
    its ids pseudonymised with the key at ``pseudonym_key`` (required), without payload when its
    person refused analytics (``consent_default`` deciding for an item without consent)."""

    def __init__(self, pseudonym_key: str | None = None, consent_default: str = GRANTED) -> None:
        super().__init__()
        self.pseudonym_key = require_pseudonym_key(pseudonym_key)
        self.consent_default = consent_default

    def expand(self, messages):
        return messages | "RejectedToDeadLetter" >> beam.ParDo(_RejectedFn(self.pseudonym_key, self.consent_default))
