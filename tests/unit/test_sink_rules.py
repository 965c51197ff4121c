"""Sink rules: row ids derived from the row, and which 403s are quota."""

from __future__ import annotations

from clickstream.core.tables import REPLAYED_AT, table_specs
from pipelines.rules.bigquery_sink import is_quota_error, row_id
from pipelines.rules.dedup import duplicate_row
from pipelines.transforms.bigquery_sink import sink_dead_letter
from tests.support.keys import pseudonym
from tests.support.teststream import T0_MS, decoded, paused


def test_the_same_row_recomputed_later_keeps_its_id_and_another_row_gets_another() -> None:
    columns = table_specs()["duplicates"].row_id
    delivery = decoded(paused("u", 0), message_id="m-2")
    first, retried = duplicate_row(delivery, T0_MS), duplicate_row(delivery, T0_MS + 5_000)
    assert first["dropped_at"] != retried["dropped_at"]
    assert row_id(first, columns) == row_id(retried, columns)
    other = duplicate_row(decoded(paused("u", 0), message_id="m-3"), T0_MS)
    assert row_id(other, columns) != row_id(first, columns)


def test_a_refused_row_dead_lettered_again_keeps_its_id_and_another_table_gives_another() -> None:
    # (Not shown: a refused row whose own wall-clock column was recomputed, e.g. processed_at on
    # a fused-bundle retry, gets another id: the payload is the row. docs/delivery-guarantees.md.)
    columns = table_specs()["dead_letters"].row_id
    refused = {"event_id": "e-1", "message_id": "m-1", "publish_time": "2026-01-01T00:00:00.000Z"}
    a, b = sink_dead_letter("p.d.events", refused, "bad"), sink_dead_letter("p.d.events", refused, "bad")
    assert row_id(a, columns) == row_id(b, columns)
    assert row_id(sink_dead_letter("p.d.sessions", refused, "bad"), columns) != row_id(a, columns)


def test_a_single_row_id_column_is_the_id_itself() -> None:
    assert row_id({"event_id": "e-1"}, ("event_id",)) == "e-1"
    assert row_id({"event_id": "e-1"}, ()) is None


def test_two_people_sending_the_same_event_id_get_different_row_ids() -> None:
    """BigQuery drops a second row with the same insertId: the events' id must be the
    de-duplication key (person and event_id), or the warehouse silently drops what dedup kept."""
    columns = table_specs()["events"].row_id
    assert row_id({"user_id": "u-1", "event_id": "e-1"}, columns) != row_id(
        {"user_id": "u-2", "event_id": "e-1"}, columns
    )


def test_only_the_quota_reasons_of_a_403_are_retryable() -> None:
    assert is_quota_error([{"reason": "rateLimitExceeded"}]) and is_quota_error([{"reason": "quotaExceeded"}])
    assert not is_quota_error([{"reason": "accessDenied"}]) and not is_quota_error(None)


def test_a_replayed_row_the_warehouse_refuses_keeps_its_lineage() -> None:
    """A replay's row refused again must stay the replay's record, or the ledger counts the
    original dead letter as the outcome and the new one as a redelivery."""
    refused = {"event_id": "e-1", "message_id": "m-1", "publish_time": "2026-01-01T00:00:00.000Z"}
    letter = sink_dead_letter("p.d.events", {**refused, REPLAYED_AT: "2026-01-02T00:00:00.000Z"}, "bad")
    assert letter[REPLAYED_AT] == "2026-01-02T00:00:00.000Z"
    assert sink_dead_letter("p.d.events", refused, "bad").get(REPLAYED_AT) is None


def test_a_refused_row_is_a_dead_letter_findable_by_its_pseudonym_and_says_its_payload_holds_no_raw_id() -> None:
    event = decoded(paused("raw-user-ann", 0))
    letter = sink_dead_letter("p.d.events", event, "no such field")
    assert (letter["user_id"], letter["payload_ids"]) == (event["user_id"], "pseudonymised")
    assert letter["user_id"] == pseudonym("raw-user-ann")
    refused_letter = sink_dead_letter("p.d.dead_letters", {"message_id": "m-1", "user_id": None}, "bad")
    assert (refused_letter["user_id"], refused_letter["payload_ids"]) == (None, "none")
