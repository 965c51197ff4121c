"""The privacy filter in the whole graph (pipelines.graph.process): right after DecodeAndValidate,
an event whose analytics consent is denied, or whose person asked to be forgotten, becomes one
``filtered`` row (no payload, no user id) and reaches no other output; replay writes them too."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import apache_beam as beam
from apache_beam.metrics import MetricsFilter
from apache_beam.testing.util import assert_that, equal_to

from clickstream.core.reasons import FilterReason
from emitters.events import Consent, Event
from pipelines import replay
from pipelines.archive import to_json_line
from pipelines.graph import erased_users_input, process
from pipelines.timefmt import iso
from tests.support.keys import key_file, pseudonym
from tests.support.teststream import (
    CATALOG,
    at,
    decoded,
    message,
    new_stream,
    options,
    paused,
    shown,
    streaming_pipeline,
    transforms_by_label,
)
from tests.support.warehouse_seeds import write_catalog

GRANTED = Consent(analytics=True, personalization=True)
DENIED = Consent(analytics=False, personalization=True)
DAY_MS = 86_400_000


def _with(event: Event, consent: Consent | None) -> Event:
    return replace(event, consent=consent)


def _run(events: list[Event], erased: beam.PCollection | None = None, requests: Path | None = None, **opts):
    """Feed ``events`` (one message each, a redelivery of none) through the whole graph; check
    that each message has exactly one outcome and return the pipeline's outputs to assert on."""
    extra = {"deletion_requests_path": requests} if requests else {}
    opts_ = options(**opts, **extra)
    stream = new_stream().add_elements(at([message(e) for e in events])).advance_watermark_to_infinity()
    p = streaming_pipeline(opts_)
    side = erased_users_input(p, opts_) if requests else None
    out = process(p | stream, opts_, p | "Catalog" >> beam.Create([CATALOG]), erased=side)
    # A row of thumbnails shown is stored as several impressions rows: one message, counted by its
    # slot-1 row (``shown`` puts a thumbnail at slot 1; a Distinct would need windowing here).
    shown_messages = (
        out.impressions
        | "FirstSlots" >> beam.Filter(lambda row: row["slot"] == 1)
        | "ShownMessages" >> beam.Map(lambda row: row["message_id"])
    )
    assert_that(
        (
            (out.events, out.duplicates, out.dead_letters, out.filtered)
            | "Rows" >> beam.Flatten()
            | "MessageIds" >> beam.Map(lambda row: row["message_id"]),
            shown_messages,
        )
        | "AllOutcomes" >> beam.Flatten(),
        equal_to([message(e).message_id for e in events]),
        label="OneOutcomePerMessage",
    )
    return p, out


def _users(rows: beam.PCollection, label: str) -> beam.PCollection:
    return rows | label >> beam.Map(lambda row: row["user_id"])


def _filtered(out, label: str = "Filtered") -> beam.PCollection:
    return out.filtered | label >> beam.Map(lambda row: (row["event_id"], row["reason"]))


def test_an_event_with_analytics_consent_denied_is_filtered_not_stored() -> None:
    amy, bob, cal = _with(paused("amy", 0), GRANTED), _with(paused("bob", 1), DENIED), _with(paused("cal", 2), None)
    p, out = _run([amy, bob, cal])  # consent_default: granted
    with p:
        assert_that(_filtered(out), equal_to([(bob.event_id, FilterReason.CONSENT_DENIED)]), label="Filtered")
        assert_that(_users(out.events, "EventUsers"), equal_to([decoded(amy)["user_id"], decoded(cal)["user_id"]]))
        assert_that(
            _users(out.sessions, "SessionUsers"),
            equal_to([decoded(amy)["user_id"], decoded(cal)["user_id"]]),
            label="Sessions",
        )
        # No payload, no device id: the ids of the message and event, why, and bob's pseudonym
        # (the record of his refusal).
        columns = ["message_id", "publish_time", "event_id", "event_type", "reason", "filtered_at", "user_id"]
        assert_that(
            out.filtered | "Columns" >> beam.Map(lambda row: (sorted(row), row["user_id"])),
            equal_to([(sorted(columns), decoded(bob)["user_id"])]),
            label="FilteredColumns",
        )


def test_an_event_without_consent_is_filtered_when_the_default_is_denied() -> None:
    amy, cal = _with(paused("amy", 0), GRANTED), _with(paused("cal", 2), None)
    p, out = _run([amy, cal], consent_default="denied")
    with p:
        assert_that(_filtered(out), equal_to([(cal.event_id, FilterReason.CONSENT_DENIED)]), label="Filtered")
        assert_that(_users(out.events, "EventUsers"), equal_to([decoded(amy)["user_id"]]))


def _requests(path: Path, *requests: tuple[Event, int], at_ms: dict[str, int] | None = None) -> Path:
    """A deletion_requests JSON-lines file: each (event of the person, requested this long ago);
    ``at_ms``: requests made at a given time instead (event id -> ms)."""
    now_ms = time.time_ns() // 1_000_000
    at_ms = at_ms or {}
    lines = [
        json.dumps(
            {
                "request_id": f"r-{i}",
                "user_ids": [decoded(e)["user_id"]],
                "requested_at": iso(at_ms.get(e.event_id, now_ms - ago)),
            }
        )
        for i, (e, ago) in enumerate(requests)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_an_erased_user_is_filtered_within_the_suppression_period_and_stored_after(tmp_path: Path) -> None:
    dan, eve, fay = _with(paused("dan", 0), GRANTED), _with(paused("eve", 1), None), _with(paused("fay", 2), GRANTED)
    gus = _with(paused("gus", 3), GRANTED)
    before_eve_published = {eve.event_id: eve.event_ts_ms - 11 * DAY_MS}
    requests = _requests(
        tmp_path / "requests.jsonl", (dan, 2 * DAY_MS), (eve, 0), (gus, 11 * DAY_MS), at_ms=before_eve_published
    )
    p, out = _run([dan, eve, fay, gus], requests=requests, erased_user_suppression_days=10)
    with p:
        # dan asked 2 days ago: still suppressed; eve asked before she published this event and
        # the 10-day period is over: stored; gus asked 11 days ago, after his event was published
        # (this run is a replay of it): his whatever the date.
        assert_that(
            _filtered(out),
            equal_to([(dan.event_id, FilterReason.ERASED_USER), (gus.event_id, FilterReason.ERASED_USER)]),
            label="Filtered",
        )
        assert_that(_users(out.events, "EventUsers"), equal_to([decoded(eve)["user_id"], decoded(fay)["user_id"]]))


def test_the_filter_runs_before_dedup_with_the_options_it_is_given(tmp_path: Path) -> None:
    opts = options(consent_default="denied", erased_user_suppression_days=7)
    p = streaming_pipeline(opts)
    process(p | beam.Create([]), opts, p | "Catalog" >> beam.Create([CATALOG]))
    found = transforms_by_label(p)
    privacy = found["PrivacyFilter"]
    assert (privacy.consent_default, privacy.suppression_days) == ("denied", 7)
    labels = list(found)
    assert labels.index("DecodeAndValidate") < labels.index("PrivacyFilter") < labels.index("Deduplicate")


def test_replay_writes_the_filtered_rows_and_counts_them_by_reason(tmp_path: Path) -> None:
    dan, bob, amy = _with(paused("dan", 0), GRANTED), _with(paused("bob", 1), DENIED), _with(paused("amy", 2), None)
    archive = tmp_path / "archive.jsonl"
    archive.write_text("\n".join(to_json_line(message(e)) for e in (dan, bob, amy)) + "\n")
    requests = _requests(tmp_path / "requests.jsonl", (dan, DAY_MS))
    result = replay.run(
        [
            f"--input={archive}",
            f"--output_dir={tmp_path / 'out'}",
            f"--catalog_path={write_catalog(tmp_path / 'catalog.jsonl', 10)}",
            f"--deletion_requests_path={requests}",
            f"--pseudonym_key={key_file()}",
            f"--max_event_age_s={10 * 365 * 86400}",
        ]
    )
    filtered = [json.loads(line) for line in (tmp_path / "out" / "filtered.jsonl").read_text().splitlines()]
    assert sorted((f["event_id"], f["reason"]) for f in filtered) == sorted(
        [(dan.event_id, FilterReason.ERASED_USER), (bob.event_id, FilterReason.CONSENT_DENIED)]
    )
    assert all(f["replayed_at"] for f in filtered)  # the ledger's lineage, as on every replayed row
    events = [json.loads(line) for line in (tmp_path / "out" / "events.jsonl").read_text().splitlines()]
    assert [e["event_id"] for e in events] == [amy.event_id]
    counters = {
        c.key.metric.name: c.committed
        for c in result.metrics().query(MetricsFilter().with_namespace("clickstream"))["counters"]
    }
    assert (counters["filtered_consent_denied"], counters["filtered_erased_user"]) == (1, 1)


def test_a_failing_event_of_a_person_who_refused_analytics_is_a_dead_letter_without_payload() -> None:
    """The graph gives DecodeAndValidate the pipeline's --consent_default: under ``denied`` an
    event without consent that fails validation keeps its reason, nothing else."""
    bad = _with(paused("amy", 0, position_ms=-1), None)
    good = _with(paused("bob", 1, position_ms=-1), GRANTED)
    p, out = _run([bad, good], consent_default="denied")
    with p:
        assert_that(
            out.dead_letters | "Kept" >> beam.Map(lambda row: (row["event_id"], row["payload_ids"], row["user_id"])),
            equal_to([(bad.event_id, "none", None), (good.event_id, "pseudonymised", pseudonym("bob"))]),
            label="DeadLetters",
        )


def test_a_thumbnails_shown_is_filtered_like_every_event(tmp_path: Path) -> None:
    amy, bob, dan = _with(shown("amy", 0), GRANTED), _with(shown("bob", 1), DENIED), _with(shown("dan", 2), None)
    requests = _requests(tmp_path / "deletion_requests.jsonl", (dan, DAY_MS))
    p, out = _run([amy, bob, dan], requests=requests)
    with p:
        assert_that(
            _filtered(out),
            equal_to([(bob.event_id, FilterReason.CONSENT_DENIED), (dan.event_id, FilterReason.ERASED_USER)]),
            label="Filtered",
        )
        assert_that(
            out.impressions | "Shown" >> beam.Map(lambda row: (row["event_id"], row["user_id"])),
            equal_to([(amy.event_id, decoded(amy)["user_id"])] * 3),
            label="OnlyAmysImpressions",
        )
        assert_that(out.events, equal_to([]), label="NoEvents")
