"""Stage 1-2: decode + validate (with clock-skew correction) into events and dead letters."""

from __future__ import annotations

from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import TimestampedValue

from clickstream.core.pseudonyms import Keyring, load_keyring
from clickstream.core.reasons import Outcome
from pipelines import tracing
from pipelines.messages import RawMessage
from pipelines.rules.decode import Limits, decode_and_validate
from pipelines.rules.privacy_filter import GRANTED
from pipelines.transforms import DEAD_LETTERS, EVENTS, METRICS_NAMESPACE


def from_pubsub(message: Any) -> RawMessage:
    """A Beam ``PubsubMessage`` as the pipeline's RawMessage."""
    publish_time = getattr(message, "publish_time", None)
    publish_ms = None
    if publish_time is not None:
        if hasattr(publish_time, "timestamp"):
            publish_ms = int(publish_time.timestamp() * 1000)
        elif hasattr(publish_time, "micros"):
            publish_ms = publish_time.micros // 1000
    return RawMessage(
        data=message.data or b"",
        attributes=dict(message.attributes or {}),
        message_id=getattr(message, "message_id", None),
        publish_time_ms=publish_ms,
    )


# The consumer span's clickstream.outcome: a valid event (deduplication comes later) or a dead letter.
VALID = "valid"


def require_pseudonym_key(pseudonym_key: str | None) -> str:
    """The key source, or the error that stops a pipeline from being built without one."""
    if not pseudonym_key:
        raise ValueError(
            "--pseudonym_key is required: the pipeline stores no raw user_id or device_id. Pass a key file "
            "(`clickstream local up` creates one) or a Secret Manager version "
            "projects/P/secrets/S/versions/V; see docs/privacy.md"
        )
    return pseudonym_key


class DecodeAndValidateFn(beam.DoFn):
    def __init__(
        self,
        limits: Limits,
        pseudonym_key: str,
        tracing_config: tracing.TracingConfig | None = None,
        consent_default: str = GRANTED,
    ):
        self.limits = limits
        self.consent_default = consent_default
        self.pseudonym_key = pseudonym_key  # the source, not the key: the key is read on the worker
        self._keyring: Keyring | None = None
        self.tracing = tracing_config or tracing.TracingConfig()
        self._tracer = None
        self._span_name = tracing.span_name(self.tracing)
        self.decoded = Metrics.counter(METRICS_NAMESPACE, "decoded")
        self.valid = Metrics.counter(METRICS_NAMESPACE, "valid")
        self.dead_lettered = Metrics.counter(METRICS_NAMESPACE, "dead_lettered")
        self.skew_corrected = Metrics.counter(METRICS_NAMESPACE, "skew_corrected")
        self._by_reason: dict[str, Any] = {}

    def _invalid(self, reason: str) -> Any:
        counter = self._by_reason.get(reason)
        if counter is None:
            counter = self._by_reason[reason] = Metrics.counter(METRICS_NAMESPACE, f"invalid_{reason}")
        return counter

    def setup(self) -> None:
        # Once per worker: the provider (and its exporter) is shared by the DoFns of a process.
        self._tracer = tracing.tracer(self.tracing)
        self._keyring = load_keyring(self.pseudonym_key)

    def process(self, raw: RawMessage):
        self.decoded.inc()
        if self._tracer is None:
            yield from self._outputs(
                decode_and_validate(raw, self.limits, self._keyring, consent_default=self.consent_default)
            )
            return
        with tracing.consumer_span(self._tracer, raw, self._span_name) as span:
            outcome = decode_and_validate(raw, self.limits, self._keyring, consent_default=self.consent_default)
            if outcome.ok:
                tracing.describe(span, raw, self.tracing, outcome.event["event_id"], VALID)
            else:
                dead = outcome.dead_letter
                tracing.describe(span, raw, self.tracing, dead["event_id"], Outcome.DEAD_LETTER, dead["reason"])
        yield from self._outputs(outcome)

    def _outputs(self, outcome):
        if outcome.ok:
            self.valid.inc()
            if outcome.event["skew_corrected"]:
                self.skew_corrected.inc()
            yield from self._valid(outcome)
        else:
            self.dead_lettered.inc()
            self._invalid(outcome.dead_letter["reason"]).inc()
            yield beam.pvalue.TaggedOutput(DEAD_LETTERS, outcome.dead_letter)

    def _valid(self, outcome):
        """What a valid event becomes: here the event stamped with its event time; the batch
        graph's fused step (``transforms.by_user``) filters and keys it instead."""
        yield TimestampedValue(outcome.event, outcome.event_ts_ms / 1000)


class DecodeAndValidate(beam.PTransform):
    """RawMessage -> {events: validated event rows stamped with event time, dead_letters: rows}.

    One message in, exactly one element out on one of the two outputs. ``pseudonym_key`` (a key
    file or a Secret Manager version) is required: no raw id leaves this transform.
    ``consent_default``: a failing event whose person refused analytics keeps no payload.
    """

    def __init__(
        self,
        limits: Limits | None = None,
        tracing_config: tracing.TracingConfig | None = None,
        pseudonym_key: str | None = None,
        consent_default: str = GRANTED,
    ):
        super().__init__()
        self.consent_default = consent_default
        self.limits = limits or Limits()
        self.tracing = tracing_config or tracing.TracingConfig()
        self.pseudonym_key = require_pseudonym_key(pseudonym_key)

    def expand(self, messages):
        fn = DecodeAndValidateFn(self.limits, self.pseudonym_key, self.tracing, self.consent_default)
        return messages | "DecodeValidate" >> beam.ParDo(fn).with_outputs(DEAD_LETTERS, main=EVENTS)
