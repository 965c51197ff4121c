"""The sessions_final view: exactly one row per final session, merges included.

The session panes come from a real TestStream run of the pipeline's sessionizer, then go
into the stand-in's ``sessions`` table through the same client the sink uses.
"""

from __future__ import annotations

import uuid

import pytest
from google.cloud import bigquery

from clickstream.core.bigquery_clients import bigquery_client
from clickstream.core.config import Settings
from pipelines.rules.sessionize import session_id
from tests.support.keys import pseudonym
from tests.support.teststream import T0_MS, at, clicked, message, new_stream, paused, run_stream, secs

pytestmark = pytest.mark.integration


def test_one_row_per_final_session_even_after_a_merge(stack: Settings) -> None:
    tag = uuid.uuid4().hex[:6]
    merged_user, plain_user = f"merge-{tag}", f"plain-{tag}"
    stream = (
        new_stream()
        .add_elements(
            at(
                [
                    message(paused(merged_user, 0)),
                    message(clicked(merged_user, 100)),
                    message(paused(plain_user, 0)),
                    message(paused(plain_user, 500)),
                ]
            )
        )
        .advance_processing_time(11)
        .advance_watermark_to(secs(250))
        # A late event bridges the merged user's two fired sessions.
        .add_elements(at([message(paused(merged_user, 50, sent_at=T0_MS + 249_900), publish_time_ms=T0_MS + 250_000)]))
        .advance_watermark_to(secs(300))
        .advance_watermark_to_infinity()
    )
    _, panes, _ = run_stream(stream)
    assert len(panes) >= 5  # several panes per session were written

    client = bigquery_client(stack)
    assert client.insert_rows_json(stack.table_id("sessions"), panes) == []
    rows = list(
        client.query(
            f"SELECT user_id, session_id, event_count, pane_timing FROM `{stack.table_id('sessions_final')}` "
            "WHERE user_id IN UNNEST(@users) ORDER BY user_id, session_start",
            job_config=bigquery.QueryJobConfig(
                query_parameters=[
                    bigquery.ArrayQueryParameter("users", "STRING", [pseudonym(merged_user), pseudonym(plain_user)])
                ]
            ),
        ).result()
    )
    final = [(r.user_id, r.session_id, r.event_count, r.pane_timing) for r in rows]
    merged, plain = pseudonym(merged_user), pseudonym(plain_user)  # the pipeline stores no raw id
    # The view's order: by user (now a pseudonym), then session start.
    by_user_and_start = sorted(
        [(merged, T0_MS, 3, "LATE"), (plain, T0_MS, 1, "ON_TIME"), (plain, T0_MS + 500_000, 1, "ON_TIME")]
    )
    assert final == [(user, session_id(user, start), n, timing) for user, start, n, timing in by_user_and_start]


def test_events_too_late_for_their_session_are_counted_by_late_dropped_events(stack: Settings) -> None:
    user = f"toolate-{uuid.uuid4().hex[:6]}"
    too_late = paused(user, 10, position_ms=5_000, sent_at=T0_MS + 999_900)  # inside the fired session's span
    way_too_late = paused(user, 500, position_ms=6_000, sent_at=T0_MS + 999_950)  # its own window expired too
    stream = (
        new_stream()
        .add_elements(at([message(paused(user, 0)), message(paused(user, 20, position_ms=70_000))]))
        .advance_watermark_to(secs(1000))  # window [0, 80) expired at 80 + 300
        .add_elements(
            at(
                [
                    message(too_late, publish_time_ms=T0_MS + 1_000_000),
                    message(way_too_late, publish_time_ms=T0_MS + 1_000_050),
                ]
            )
        )
        .advance_watermark_to_infinity()
    )
    events, panes, _ = run_stream(stream)
    assert len(events) == 4 and [p["event_count"] for p in panes] == [2]
    client = bigquery_client(stack)
    assert client.insert_rows_json(stack.table_id("events"), events, row_ids=[e["event_id"] for e in events]) == []
    assert client.insert_rows_json(stack.table_id("sessions"), panes) == []
    rows = list(
        client.query(
            f"SELECT late_dropped_events FROM `{stack.table_id('late_dropped_events')}` WHERE user_id = @user",
            job_config=bigquery.QueryJobConfig(
                query_parameters=[bigquery.ScalarQueryParameter("user", "STRING", pseudonym(user))]
            ),
        ).result()
    )
    assert [r.late_dropped_events for r in rows] == [2]
