"""Stage 3: drop duplicate deliveries by event_id within an event-time horizon."""

from __future__ import annotations

import time
from typing import Any

import apache_beam as beam
from apache_beam.coders import BooleanCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.transforms.window import TimestampedValue

from pipelines.rules.timefmt import iso
from pipelines.transforms import METRICS_NAMESPACE

EVENTS = "events"
DUPLICATES = "duplicates"


class _DropSeenFn(beam.DoFn):
    """Keyed by event_id: pass the first, drop the rest, forget the key after the horizon.

    State per key is one boolean plus a timer, and the timer clears it once the
    watermark is ``horizon`` past the event: memory stays bounded by the horizon.
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
            event = element[1]
            yield beam.pvalue.TaggedOutput(
                DUPLICATES,
                {
                    "event_id": event["event_id"],
                    "message_id": event.get("message_id"),
                    "publish_time": event.get("publish_time"),
                    "event_ts": event["event_ts"],
                    "dropped_at": iso(time.time_ns() // 1_000_000),
                },
            )
            return
        seen.write(True)
        expiry.set(timestamp + self.horizon_s)
        self.unique.inc()
        yield TimestampedValue(element[1], timestamp)

    @on_timer(EXPIRY)
    def expire(self, seen=beam.DoFn.StateParam(SEEN)):
        seen.clear()


class DeduplicateEvents(beam.PTransform):
    """Events -> {events: at most one per event_id within ``horizon_s`` of event time,
    duplicates: an audit row per dropped delivery}."""

    def __init__(self, horizon_s: int = 3600):
        super().__init__()
        self.horizon_s = horizon_s

    def expand(self, events):
        return (
            events
            | "KeyByEventId" >> beam.Map(lambda e: (e["event_id"], e)).with_output_types(tuple[str, dict[str, Any]])
            | "DropSeen" >> beam.ParDo(_DropSeenFn(self.horizon_s)).with_outputs(DUPLICATES, main=EVENTS)
        )
