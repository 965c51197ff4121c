"""Stage 3: drop duplicate deliveries (one person's event_id, ``rules.dedup.dedup_key``) within a horizon."""

from __future__ import annotations

import time
from typing import Any

import apache_beam as beam
from apache_beam.coders import BooleanCoder, PickleCoder, VarIntCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import Timestamp

from pipelines.local_runner import is_local_runner
from pipelines.rules.dedup import (
    bucket_of,
    dedup_key,
    duplicate_row,
    expiry_slot_ms,
    first_and_again,
    forget_at_ms,
    round_up,
)
from pipelines.transforms import DUPLICATES, EVENTS, METRICS_NAMESPACE

# The local runner's dedup keys (``_DropSeenInBucketsFn``): at 100 events/s and the default
# hour's horizon, about 1,400 ids per bucket.
LOCAL_BUCKETS = 256


class _KeepFirstFn(beam.DoFn):
    """Batch: all deliveries of one event_id at once; keep the earliest published."""

    def __init__(self):
        self.duplicates = Metrics.counter(METRICS_NAMESPACE, "duplicates_dropped")
        self.unique = Metrics.counter(METRICS_NAMESPACE, "unique_events")

    def process(self, element):
        _, deliveries = element
        (ts_ms, first), dropped = first_and_again(list(deliveries))
        self.unique.inc()
        yield TimestampedValue(first, ts_ms / 1000)
        for _, again in dropped:
            self.duplicates.inc()
            yield beam.pvalue.TaggedOutput(DUPLICATES, duplicate_row(again, time.time_ns() // 1_000_000))


class _DropSeenFn(beam.DoFn):
    """Keyed by event_id: pass the first, drop the rest, forget the key after the horizon.

    State per key is one boolean plus a timer, and the timer clears it once the watermark is
    ``horizon`` past the later of the event and its publish time (``forget_at_ms``): memory
    stays bounded by the horizon, and a late event is remembered as long as a timely one.
    """

    SEEN = ReadModifyWriteStateSpec("seen", BooleanCoder())
    EXPIRY = TimerSpec("expiry", TimeDomain.WATERMARK)

    def __init__(self, horizon_s: int):
        self.horizon_s = horizon_s
        self.duplicates = Metrics.counter(METRICS_NAMESPACE, "duplicates_dropped")
        self.unique = Metrics.counter(METRICS_NAMESPACE, "unique_events")

    def process(
        self,
        element: tuple[str, dict[str, Any]],
        timestamp=beam.DoFn.TimestampParam,
        seen=beam.DoFn.StateParam(SEEN),
        expiry=beam.DoFn.TimerParam(EXPIRY),
    ):
        if seen.read():
            self.duplicates.inc()
            yield beam.pvalue.TaggedOutput(DUPLICATES, duplicate_row(element[1], time.time_ns() // 1_000_000))
            return
        seen.write(True)
        expiry.set(
            Timestamp.of(forget_at_ms(timestamp.micros // 1000, element[1].get("publish_time"), self.horizon_s) / 1000)
        )
        self.unique.inc()
        yield TimestampedValue(element[1], timestamp)

    @on_timer(EXPIRY)
    def expire(self, seen=beam.DoFn.StateParam(SEEN)):
        seen.clear()


class _DropSeenInBucketsFn(beam.DoFn):
    """The local runner's dedup: keyed by one of ``LOCAL_BUCKETS`` buckets of dedup keys, each
    bucket's state a map of dedup key -> when it may be forgotten, and one timer per bucket.

    Same decisions as ``_DropSeenFn``; only the layout of the state differs. The local runner
    never drops a key it has seen and scans every key's timers after each bundle, so one key
    per event made it slower with every event (docs/local-streaming.md); a fixed number of
    buckets keeps that work constant. The horizon is rounded UP to ``expiry_slot_ms`` so that a
    bucket's timer fires about once per slot: an id is remembered at least the horizon, at most
    one slot longer, never shorter.
    """

    SEEN = ReadModifyWriteStateSpec("seen", PickleCoder())  # dict[dedup key, forget at (ms)]
    DUE = ReadModifyWriteStateSpec("due", VarIntCoder())  # when the bucket's timer is set for (ms)
    EXPIRY = TimerSpec("expiry", TimeDomain.WATERMARK)

    def __init__(self, horizon_s: int):
        self.horizon_s = horizon_s
        self.slot_ms = expiry_slot_ms(horizon_s)
        self.duplicates = Metrics.counter(METRICS_NAMESPACE, "duplicates_dropped")
        self.unique = Metrics.counter(METRICS_NAMESPACE, "unique_events")

    def process(
        self,
        element: tuple[int, tuple[str, dict[str, Any]]],
        timestamp=beam.DoFn.TimestampParam,
        seen=beam.DoFn.StateParam(SEEN),
        due=beam.DoFn.StateParam(DUE),
        expiry=beam.DoFn.TimerParam(EXPIRY),
    ):
        key, event = element[1]
        remembered = seen.read() or {}
        if key in remembered:
            self.duplicates.inc()
            yield beam.pvalue.TaggedOutput(DUPLICATES, duplicate_row(event, time.time_ns() // 1_000_000))
            return
        forget_ms = forget_at_ms(timestamp.micros // 1000, event.get("publish_time"), self.horizon_s)
        forget = round_up(forget_ms, self.slot_ms)
        remembered[key] = forget
        seen.write(remembered)
        pending = due.read()
        if pending is None or forget < pending:
            expiry.set(Timestamp.of(forget / 1000))
            due.write(forget)
        self.unique.inc()
        yield TimestampedValue(event, timestamp)

    @on_timer(EXPIRY)
    def expire(
        self,
        fired=beam.DoFn.TimestampParam,
        seen=beam.DoFn.StateParam(SEEN),
        due=beam.DoFn.StateParam(DUE),
        expiry=beam.DoFn.TimerParam(EXPIRY),
    ):
        now_ms = fired.micros // 1000
        remembered = {key: at for key, at in (seen.read() or {}).items() if at > now_ms}
        if not remembered:
            seen.clear()
            due.clear()
            return
        seen.write(remembered)
        nxt = min(remembered.values())
        expiry.set(Timestamp.of(nxt / 1000))
        due.write(nxt)


class DeduplicateEvents(beam.PTransform):
    """Events -> {events: at most one per person and event_id, duplicates: an audit row per dropped delivery}.

    Streaming remembers an event_id until the watermark is ``horizon_s`` past the later of
    its event and publish time (bounded state);
    batch de-duplicates over the whole input.

    ``per_event_keys``: state keyed by each event (``_DropSeenFn``, for Dataflow) or by
    ``LOCAL_BUCKETS`` buckets of them (``_DropSeenInBucketsFn``, for the local runner); by
    default chosen by the runner the pipeline is built for (``local_runner.is_local_runner``).
    """

    def __init__(self, horizon_s: int = 3600, streaming: bool = True, per_event_keys: bool | None = None):
        super().__init__()
        self.horizon_s = horizon_s
        self.streaming = streaming
        self.per_event_keys = per_event_keys

    def expand(self, events):
        if not self.streaming:
            # Batch replays see every delivery at once: a GroupByKey is exact over the whole
            # input and about 10x faster than per-key state on the local batch runner
            # (measured: the state cache's object sizing dominated).
            return (
                events
                | "KeyByEventId"
                >> beam.Map(lambda e, ts=beam.DoFn.TimestampParam: (dedup_key(e), (ts.micros // 1000, e)))
                | "GroupDeliveries" >> beam.GroupByKey()
                | "KeepFirst" >> beam.ParDo(_KeepFirstFn()).with_outputs(DUPLICATES, main=EVENTS)
            )
        per_event = self.per_event_keys
        if per_event is None:
            per_event = not is_local_runner(events.pipeline)
        if not per_event:
            return (
                events
                | "KeyByBucket" >> beam.Map(_bucketed).with_output_types(tuple[int, tuple[str, dict[str, Any]]])
                | "DropSeen" >> beam.ParDo(_DropSeenInBucketsFn(self.horizon_s)).with_outputs(DUPLICATES, main=EVENTS)
            )
        return (
            events
            | "KeyByEventId" >> beam.Map(lambda e: (dedup_key(e), e)).with_output_types(tuple[str, dict[str, Any]])
            | "DropSeen" >> beam.ParDo(_DropSeenFn(self.horizon_s)).with_outputs(DUPLICATES, main=EVENTS)
        )


def _bucketed(event: dict[str, Any]) -> tuple[int, tuple[str, dict[str, Any]]]:
    key = dedup_key(event)
    return bucket_of(key, LOCAL_BUCKETS), (key, event)
