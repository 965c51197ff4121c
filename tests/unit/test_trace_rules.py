"""Trace and collector columns: read from the message attributes, never a reason to dead-letter."""

from __future__ import annotations

import base64

import pytest

from clickstream.core import attributes as attr
from pipelines.messages import RawMessage, dead_letter_row
from pipelines.rules.decode import Limits, decode_and_validate
from pipelines.rules.tracing import collector_columns, trace_columns
from tests.support.keys import keyring
from tests.support.teststream import T0_MS, message, paused

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{SPAN_ID}-01"
COLLECTOR = {
    attr.TRACEPARENT: TRACEPARENT,
    attr.RECEIVED_AT: str(T0_MS + 20),
    attr.CLIENT_IP_PREFIX: "203.0.113.0/24",
    attr.EVENT_ID_GENERATED: "true",
}


def through_collector(raw: RawMessage, **attributes: str) -> RawMessage:
    return RawMessage(raw.data, {**raw.attributes, **attributes}, raw.message_id, raw.publish_time_ms)


def test_trace_columns_come_from_the_pubsub_traceparent_attribute() -> None:
    assert trace_columns({attr.TRACEPARENT: TRACEPARENT}) == {"trace_id": TRACE_ID, "span_id": SPAN_ID}


def test_a_future_traceparent_version_is_read_by_its_first_four_fields() -> None:
    # W3C Trace Context 3.2.4: a version above 00 may append fields; a reader parses the first four,
    # as OpenTelemetry's propagator (the pipeline's span link) does.
    future = f"01-{TRACE_ID}-{SPAN_ID}-01-more-fields"
    assert trace_columns({attr.TRACEPARENT: future}) == {"trace_id": TRACE_ID, "span_id": SPAN_ID}


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "garbage",
        f"ff-{TRACE_ID}-{SPAN_ID}-01",
        f"00-{'0' * 32}-{SPAN_ID}-01",
        f"00-{TRACE_ID}-{SPAN_ID}-01-extra",  # version 00 has exactly four fields
        f"01-{TRACE_ID}-{SPAN_ID}-01extra",  # after the flags, a new field starts with a dash
    ],
)
def test_an_absent_or_invalid_traceparent_gives_null_trace_columns(value: str | None) -> None:
    attributes = {} if value is None else {attr.TRACEPARENT: value}
    assert trace_columns(attributes) == {"trace_id": None, "span_id": None}


def test_collector_columns_come_from_the_collectors_attributes() -> None:
    assert collector_columns(COLLECTOR) == {
        "received_at": "2026-01-01T00:00:00.020Z",
        "client_ip_prefix": "203.0.113.0/24",
        "event_id_generated": True,
    }


def test_an_event_not_sent_through_the_collector_has_null_collector_columns() -> None:
    assert collector_columns({}) == {"received_at": None, "client_ip_prefix": None, "event_id_generated": None}


def test_an_event_the_collector_received_with_the_clients_own_id_says_so() -> None:
    assert collector_columns({attr.RECEIVED_AT: str(T0_MS)})["event_id_generated"] is False


@pytest.mark.parametrize("value", ["soon", "-1", "99999999999999999999"])
def test_an_unreadable_received_at_is_null_not_a_failure(value: str) -> None:
    assert collector_columns({attr.RECEIVED_AT: value})["received_at"] is None


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("203.0.113.77", "203.0.113.0/24"),  # a producer that sent the whole address
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1::/48"),
        ("203.0.113.77/32", "203.0.113.0/24"),
        ("garbage", None),
        ("x" * 2000, None),
    ],
)
def test_a_client_ip_attribute_is_stored_only_as_its_network(value: str, stored: str | None) -> None:
    # Any Pub/Sub producer can set the attribute: the pipeline keeps no more of it than the collector would.
    assert collector_columns({attr.CLIENT_IP_PREFIX: value})["client_ip_prefix"] == stored
    raw = through_collector(message(paused("ann", 0)), **{attr.CLIENT_IP_PREFIX: value})
    outcome = decode_and_validate(raw, Limits(), keyring())
    assert outcome.ok, outcome.dead_letter
    assert outcome.event["client_ip_prefix"] == stored


@pytest.mark.parametrize(("value", "kept"), [("198.51.100.7", "198.51.100.0/24"), ("garbage", None)])
def test_a_dead_letter_keeps_only_the_network_of_a_client_ip_attribute(value: str, kept: str | None) -> None:
    # dead_letters.attributes keeps the message's attributes: a full address set by a direct
    # producer must not be stored there either (no raw IP is ever stored).
    raw = through_collector(message(paused("ann", 0, position_ms=-1)), **{attr.CLIENT_IP_PREFIX: value})
    outcome = decode_and_validate(raw, Limits(), keyring())
    assert not outcome.ok
    stored = {a["key"]: a["value"] for a in outcome.dead_letter["attributes"]}
    assert stored.get(attr.CLIENT_IP_PREFIX) == kept
    assert value not in str(outcome.dead_letter) or kept == value


def test_a_stored_event_carries_its_trace_and_collector_columns() -> None:
    outcome = decode_and_validate(through_collector(message(paused("ann", 0)), **COLLECTOR), Limits(), keyring())
    assert outcome.ok, outcome.dead_letter
    row = outcome.event
    assert (row["trace_id"], row["span_id"], row["client_ip_prefix"], row["event_id_generated"]) == (
        TRACE_ID,
        SPAN_ID,
        "203.0.113.0/24",
        True,
    )
    assert row["received_at"] == "2026-01-01T00:00:00.020Z"


def test_an_invalid_traceparent_is_ignored_and_the_event_stored() -> None:
    raw = through_collector(message(paused("ann", 0)), **{attr.TRACEPARENT: "00-nonsense"})
    outcome = decode_and_validate(raw, Limits(), keyring())
    assert outcome.ok, outcome.dead_letter
    assert (outcome.event["trace_id"], outcome.event["span_id"]) == (None, None)


def test_a_dead_letter_carries_the_trace_of_its_message() -> None:
    invalid = through_collector(message(paused("ann", 0, position_ms=-1)), **COLLECTOR)
    outcome = decode_and_validate(invalid, Limits(), keyring())
    assert (outcome.dead_letter["trace_id"], outcome.dead_letter["span_id"]) == (TRACE_ID, SPAN_ID)
    garbage = RawMessage(b"\x00", {attr.TRACEPARENT: TRACEPARENT}, "m-1", T0_MS)
    row = dead_letter_row(garbage, "decode", "undecodable", "x")
    assert (row["trace_id"], row["span_id"]) == (TRACE_ID, SPAN_ID)
    assert base64.b64decode(row["payload"]) == b"\x00"
