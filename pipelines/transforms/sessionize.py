"""Stage 5: sessionize per user in event time, with early, on-time and late panes."""

from __future__ import annotations

import time
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.transforms import trigger, window
from apache_beam.utils.windowed_value import PaneInfoTiming

from pipelines.rules import sessionize as sessions
from pipelines.transforms import METRICS_NAMESPACE

_TIMING = {
    PaneInfoTiming.EARLY: "EARLY",
    PaneInfoTiming.ON_TIME: "ON_TIME",
    PaneInfoTiming.LATE: "LATE",
    PaneInfoTiming.UNKNOWN: "ON_TIME",  # batch runs fire each window once, at the end
}


class SessionCombineFn(beam.CombineFn):
    def create_accumulator(self) -> dict[str, Any]:
        return sessions.empty()

    def add_input(self, acc: dict[str, Any], event: sessions.SessionEvent) -> dict[str, Any]:
        return sessions.add(acc, event)

    def merge_accumulators(self, accs) -> dict[str, Any]:
        return sessions.merge(list(accs))

    def extract_output(self, acc: dict[str, Any]) -> dict[str, Any]:
        return acc


class SessionRowFn(beam.DoFn):
    """Session row per pane. In batch each window fires exactly once, when the input is
    complete, so that pane is final even though the runner does not mark it last."""

    def __init__(self, streaming: bool = True):
        self.streaming = streaming
        self.emitted = Metrics.counter(METRICS_NAMESPACE, "sessions_emitted")
        self.final = Metrics.counter(METRICS_NAMESPACE, "sessions_final")
        self.late_panes = Metrics.counter(METRICS_NAMESPACE, "late_panes")

    def process(self, element, win=beam.DoFn.WindowParam, pane=beam.DoFn.PaneInfoParam):
        user_id, acc = element
        timing = _TIMING.get(pane.timing, "ON_TIME")
        is_final = pane.is_last or not self.streaming
        self.emitted.inc()
        if is_final:
            self.final.inc()
        if timing == "LATE":
            self.late_panes.inc()
        yield sessions.to_row(
            user_id,
            acc,
            win.start.micros // 1000,
            win.end.micros // 1000,
            timing,
            pane.index,
            is_final,
            time.time_ns() // 1_000_000,
        )


class _SplitSessionsFn(beam.DoFn):
    def __init__(self, gap_s: int):
        self.gap_ms = gap_s * 1000
        self.emitted = Metrics.counter(METRICS_NAMESPACE, "sessions_emitted")

    def process(self, element):
        user_id, events = element
        for row in sessions.final_rows(user_id, list(events), self.gap_ms, time.time_ns() // 1_000_000):
            self.emitted.inc()
            yield row


class _BatchSessions(beam.PTransform):
    """Batch: all of a user's events at once, cut at the gap. Same sessions as Beam's merging
    ``Sessions`` windows (a test holds replay and streaming to it), about 2x faster on the
    local batch runner, whose merging-window code path is pure Python per element."""

    def __init__(self, gap_s: int):
        super().__init__()
        self.gap_s = gap_s

    def expand(self, events):
        return (
            events
            | "ToSessionEvent"
            >> beam.Map(
                lambda e, ts=beam.DoFn.TimestampParam: (e["user_id"], sessions.session_event(e, ts.micros // 1000))
            )
            | "GroupByUser" >> beam.GroupByKey()
            | "SplitAtGap" >> beam.ParDo(_SplitSessionsFn(self.gap_s))
        )


class Sessionize(beam.PTransform):
    """Enriched events (timestamped with event time) -> one ``sessions`` row per pane; a bot's
    events make none (``rules.sessionize.counts_in_sessions``).

    ``Sessions(gap)`` per user; an early pane every ``early_firing_s`` of processing
    time, the on-time pane when the watermark passes the end of the session, then a
    late pane for every late event within ``allowed_lateness_s``. Panes accumulate, so
    the latest pane of a window is the whole session so far.
    """

    def __init__(
        self, gap_s: int = 1800, allowed_lateness_s: int = 3 * 86400, early_firing_s: int = 60, streaming: bool = True
    ):
        super().__init__()
        self.streaming = streaming
        self.gap_s = gap_s
        self.allowed_lateness_s = allowed_lateness_s
        self.early_firing_s = early_firing_s

    def expand(self, events):
        events = events | "NotBots" >> beam.Filter(sessions.counts_in_sessions)
        if not self.streaming:
            return events | "BatchSessions" >> _BatchSessions(self.gap_s)
        return (
            events
            | "ToSessionEvent"
            >> beam.Map(
                lambda e, ts=beam.DoFn.TimestampParam: (
                    e["user_id"],
                    sessions.session_event(e, ts.micros // 1000),
                )
            )
            | "SessionWindows"
            >> beam.WindowInto(
                window.Sessions(self.gap_s),
                trigger=trigger.AfterWatermark(
                    early=trigger.AfterProcessingTime(self.early_firing_s) if self.early_firing_s > 0 else None,
                    late=trigger.AfterCount(1),
                ),
                accumulation_mode=trigger.AccumulationMode.ACCUMULATING,
                allowed_lateness=self.allowed_lateness_s,
            )
            | "Summarize" >> beam.CombinePerKey(SessionCombineFn())
            | "ToRow" >> beam.ParDo(SessionRowFn(self.streaming))
        )
