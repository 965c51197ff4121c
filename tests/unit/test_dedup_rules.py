"""Dedup rules: which delivery of an event_id is kept, and the audit row of the others."""

from __future__ import annotations

import itertools

from clickstream.core.tables import REPLAYED_AT, table_specs
from pipelines.rules.dedup import bucket_of, delivery_order, duplicate_row, expiry_slot_ms, forget_at_ms, round_up
from tests.support.keys import pseudonym
from tests.support.teststream import T0_MS, decoded, paused

EVENT = paused("u", 0)


def test_the_earliest_published_delivery_sorts_first_whatever_the_arrival_order() -> None:
    deliveries = [
        decoded(EVENT, publish_delay_ms=900, message_id="m-1"),
        decoded(EVENT, publish_delay_ms=150, message_id="m-2"),
        decoded(EVENT, publish_delay_ms=60_000, message_id="m-0"),
    ]
    for order in itertools.permutations(deliveries):
        assert [d["message_id"] for d in sorted(order, key=delivery_order)] == ["m-2", "m-1", "m-0"]


def test_ties_on_publish_time_are_broken_by_message_id() -> None:
    b = decoded(EVENT, message_id="m-b")
    a = decoded(EVENT, message_id="m-a")
    assert a["publish_time"] == b["publish_time"]
    assert min([b, a], key=delivery_order)["message_id"] == "m-a"
    assert min([a, b], key=delivery_order)["message_id"] == "m-a"


def test_missing_publish_time_or_message_id_still_orders() -> None:
    # Replay files may lack both; the order must still be total, not raise on None.
    bare = {**decoded(EVENT), "publish_time": None, "message_id": None}
    assert delivery_order(bare) == ("", "")
    assert sorted([decoded(EVENT), bare], key=delivery_order)[0] is bare


def test_duplicate_row_names_the_dropped_delivery_and_matches_the_table() -> None:
    delivery = decoded(EVENT, publish_delay_ms=2_000, message_id="m-again")
    row = duplicate_row(delivery, T0_MS + 5_000)
    assert row == {
        "event_id": EVENT.event_id,
        "user_id": pseudonym(EVENT.user_id),
        "message_id": "m-again",
        "publish_time": "2026-01-01T00:00:02.000Z",
        "event_ts": "2026-01-01T00:00:00.000Z",
        "dropped_at": "2026-01-01T00:00:05.000Z",
    }
    assert set(row) == set(table_specs()["duplicates"].field_names()) - {REPLAYED_AT}  # set by a replay only


def test_an_event_is_remembered_a_horizon_past_its_publish_time_when_that_is_later() -> None:
    timely = decoded(EVENT, publish_delay_ms=150)
    late = decoded(paused("u", 0, sent_at=T0_MS + 7_200_000), publish_delay_ms=7_200_000)
    assert forget_at_ms(T0_MS, timely["publish_time"], 60) == T0_MS + 150 + 60_000
    assert forget_at_ms(T0_MS, late["publish_time"], 60) == T0_MS + 7_200_000 + 60_000
    # A replayed file without publish times falls back to the event time.
    assert forget_at_ms(T0_MS, None, 60) == T0_MS + 60_000


def test_the_local_runners_coarser_expiry_never_forgets_an_id_before_the_horizon() -> None:
    assert expiry_slot_ms(3600) == 60_000 and expiry_slot_ms(60) == 1000
    for forget in (0, 1, 59_999, 60_000, 1_767_225_600_001):
        rounded = round_up(forget, expiry_slot_ms(3600))
        assert forget <= rounded < forget + expiry_slot_ms(3600)
    # The same bucket in every process (Python's hash of a str is salted per process).
    assert bucket_of("user-1/event-1", 256) == 78
