"""Helpers to run the pipeline's transforms on TestStream with the in-process runners.

``streaming_pipeline`` and ``batch_pipeline`` are TestPipelines on a named in-process runner:
the BundleBasedDirectRunner (the one that executes TestStream) and the FnApiRunner. Beam's
default DirectRunner would first try to download the Prism runner, which fails offline (and
is slow where it does not). ``message``/``at``/``new_stream`` build the input as Pub/Sub
delivers it; ``decoded``/``enriched``/``at_event_time`` build the input of a later stage.
``run_stream`` feeds a TestStream through ``pipelines.graph.process`` and returns what each
output carried (events, session panes, dead letters, and optionally duplicates)."""

from __future__ import annotations

import threading
import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.runners.direct.direct_runner import BundleBasedDirectRunner
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.test_stream import TestStream

from clickstream.core import contract
from emitters.events import (
    ClientInfo,
    Event,
    ShownThumbnail,
    ThumbnailsShown,
    encode_event,
    thumbnail_clicked,
    video_paused,
)
from pipelines.graph import process
from pipelines.messages import RawMessage
from pipelines.options import ClickstreamOptions
from pipelines.rules.decode import Limits, decode_and_validate
from pipelines.rules.enrich import enrich
from pipelines.timefmt import iso
from tests.support.keys import key_file, keyring

T0_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z: every test's event-time origin
CLIENT = ClientInfo(
    platform="web",
    app_version="6.1.0",
    user_agent="Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
)
CATALOG = {
    "vid-000001": {"title": "One", "category": "music", "duration_ms": 240_000, "creator_id": "creator-0001"},
    "vid-000002": {"title": "Two", "category": "news", "duration_ms": 600_000, "creator_id": "creator-0002"},
}

_SINKS: dict[str, list[Any]] = defaultdict(list)
_LOCK = threading.Lock()


class Collect(beam.DoFn):
    """Appends every element to an in-memory list (the in-process runner shares memory)."""

    def __init__(self, key: str):
        self.key = key

    def process(self, element):
        with _LOCK:
            _SINKS[self.key].append(element)


def collector() -> tuple[str, list[Any]]:
    key = uuid.uuid4().hex
    return key, _SINKS[key]


def options(**overrides: Any) -> ClickstreamOptions:
    args = {
        "session_gap_s": 60,
        "allowed_lateness_s": 300,
        "early_firing_s": 10,
        "dedup_horizon_s": 600,
        "max_event_age_s": 10 * 365 * 86400,
        "input_topic": "projects/p/topics/t",
        "pseudonym_key": key_file(),
    }
    args.update(overrides)
    argv = [f"--{k}={v}" for k, v in args.items()]
    opts = PipelineOptions(argv)
    opts.view_as(StandardOptions).streaming = True
    return opts.view_as(ClickstreamOptions)


def pipeline(opts: ClickstreamOptions) -> beam.Pipeline:
    return beam.Pipeline(runner=BundleBasedDirectRunner(), options=opts)


def paused(user: str, at_s: float, video: str = "vid-000001", position_ms: int = 60_000, **kw: Any) -> Event:
    ts = T0_MS + int(at_s * 1000)
    return video_paused(
        user_id=user,
        device_id=kw.pop("device_id", f"d-{user}"),
        client=CLIENT,
        video_id=video,
        position_ms=position_ms,
        event_ts=ts,
        sent_at=kw.pop("sent_at", ts + 100),
        **kw,
    )


def clicked(user: str, at_s: float, video: str = "vid-000002", slot: int = 1, **kw: Any) -> Event:
    ts = T0_MS + int(at_s * 1000)
    return thumbnail_clicked(
        user_id=user,
        device_id=kw.pop("device_id", f"d-{user}"),
        client=CLIENT,
        video_id=video,
        impression_id="imp-1",
        surface="home",
        slot=slot,
        rank=slot,
        event_ts=ts,
        sent_at=kw.pop("sent_at", ts + 100),
        **kw,
    )


def shown(
    user: str,
    at_s: float,
    videos: tuple[str, ...] = ("vid-000001", "vid-000002", "vid-999999"),
    surface: str = "home",
    request_id: str = "req-1",
    items: tuple[ShownThumbnail, ...] | None = None,
    **kw: Any,
) -> Event:
    """A ThumbnailsShown row of ``videos`` at slots 1.. (rank = slot), or of ``items`` as given.
    Built from the payload dataclass directly: a test must be able to make an invalid one."""
    ts = T0_MS + int(at_s * 1000)
    if items is None:
        items = tuple(
            ShownThumbnail(video_id=v, impression_id=f"{request_id}-{k}", slot=k, rank=k)
            for k, v in enumerate(videos, start=1)
        )
    payload = ThumbnailsShown(
        request_id=request_id,
        surface=surface,
        items=items,
        model_version=kw.pop("model_version", "m-1"),
        experiment_ids=kw.pop("experiment_ids", ("exp-a",)),
        exploration=kw.pop("exploration", None),
    )
    return Event(
        event_id=kw.pop("event_id", str(uuid.uuid4())),
        user_id=user,
        device_id=kw.pop("device_id", f"d-{user}"),
        client=CLIENT,
        payload=payload,
        event_ts_ms=ts,
        sent_at_ms=kw.pop("sent_at", ts + 100),
        **kw,
    )


def message(
    event: Event, publish_delay_ms: int = 150, publish_time_ms: int | None = None, message_id: str | None = None
) -> RawMessage:
    """The RawMessage Pub/Sub would deliver for ``event``."""
    publish = publish_time_ms if publish_time_ms is not None else event.event_ts_ms + publish_delay_ms
    return RawMessage(
        data=encode_event(event),
        attributes=event.attributes(),
        message_id=message_id or f"m-{event.event_id[:8]}",
        publish_time_ms=publish,
    )


def raw_message(data: bytes, **attributes: str) -> RawMessage:
    attrs = {"schema_version": contract.current_version(), **attributes}
    return RawMessage(data=data, attributes=attrs, message_id="m-raw", publish_time_ms=T0_MS)


def at(messages: Iterable[RawMessage]) -> list[beam.window.TimestampedValue]:
    """Stamp messages with their publish time, as ReadFromPubSub does."""
    return [beam.window.TimestampedValue(m, m.publish_time_ms / 1000) for m in messages]


def secs(s: float) -> float:
    return T0_MS / 1000 + s


def streaming_pipeline(opts: PipelineOptions | None = None) -> TestPipeline:
    """A streaming TestPipeline on the BundleBasedDirectRunner, which runs TestStream in process."""
    opts = opts or PipelineOptions([])  # not PipelineOptions(): that parses sys.argv, pytest's flags
    opts.view_as(StandardOptions).streaming = True
    return TestPipeline(runner=BundleBasedDirectRunner(), options=opts)


def batch_pipeline() -> TestPipeline:
    """A batch TestPipeline on the in-process FnApiRunner (what replay uses)."""
    return TestPipeline(runner=FnApiRunner(), options=PipelineOptions([]))


def decoded(event: Event, **message_kw: Any) -> dict[str, Any]:
    """The ``events`` row that DecodeAndValidate makes of ``event`` (before enrichment);
    ``message_kw`` as for ``message`` (publish time, message id)."""
    outcome = decode_and_validate(message(event, **message_kw), Limits(), keyring())
    assert outcome.ok, outcome.dead_letter
    return outcome.event


def enriched(event: Event, catalog: dict | None = None, **message_kw: Any) -> dict[str, Any]:
    """The enriched ``events`` row of ``event``, as Sessionize receives it."""
    return enrich(decoded(event, **message_kw), CATALOG if catalog is None else catalog, iso(T0_MS))


def iso_ms(value: str) -> int:
    """Milliseconds of an ISO timestamp, in integers (a float product can be 1 ms short)."""
    since_epoch = datetime.fromisoformat(value.replace("Z", "+00:00")) - datetime(1970, 1, 1, tzinfo=UTC)
    return since_epoch // timedelta(milliseconds=1)


def at_event_time(rows: Iterable[dict[str, Any]]) -> list[beam.window.TimestampedValue]:
    """Stamp event rows with their event time, as DecodeAndValidate does."""
    return [beam.window.TimestampedValue(r, iso_ms(r["event_ts"]) / 1000) for r in rows]


def id_and_timestamp(row: dict[str, Any], ts=beam.DoFn.TimestampParam) -> tuple[str, int]:
    """(event_id, element timestamp in ms): ``beam.Map(id_and_timestamp)`` shows what time an element carries."""
    return row["event_id"], ts.micros // 1000


def transforms_by_label(pipeline: beam.Pipeline) -> dict[str, beam.PTransform]:
    """Every transform of a built pipeline, composite or not, by its full label ("A/B/C")."""

    class _Visitor(beam.pipeline.PipelineVisitor):
        def __init__(self) -> None:
            self.found: dict[str, beam.PTransform] = {}

        def visit_transform(self, node) -> None:
            self.found[node.full_label] = node.transform

        def enter_composite_transform(self, node) -> None:
            self.found[node.full_label] = node.transform

    visitor = _Visitor()
    pipeline.visit(visitor)
    return visitor.found


def run_stream(stream: TestStream, with_duplicates: bool = False, catalog: dict | None = None, **opts):
    opts_ = options(**opts)
    du_key, duplicates = collector()
    ev_key, events = collector()
    se_key, sessions = collector()
    dl_key, dead = collector()
    with pipeline(opts_) as p:
        messages = p | stream
        side = p | "Catalog" >> beam.Create([CATALOG if catalog is None else catalog])
        out = process(messages, opts_, side)
        out.events | "CollectEvents" >> beam.ParDo(Collect(ev_key))
        out.sessions | "CollectSessions" >> beam.ParDo(Collect(se_key))
        out.dead_letters | "CollectDead" >> beam.ParDo(Collect(dl_key))
        out.duplicates | "CollectDuplicates" >> beam.ParDo(Collect(du_key))
    if with_duplicates:
        return events, sessions, dead, duplicates
    return events, sessions, dead


def new_stream() -> TestStream:
    return TestStream(coder=beam.coders.PickleCoder()).advance_watermark_to(secs(-1))


def panes(sessions, user):
    """The session panes of ``user`` (a raw id: the rows carry its pseudonym)."""
    user_id = keyring().pseudonym(user)
    return sorted((s for s in sessions if s["user_id"] == user_id), key=lambda s: (s["emitted_at"], s["pane_index"]))
