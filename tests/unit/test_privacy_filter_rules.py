"""Privacy filter rules: which valid events are not stored (consent, erased users), and what is
kept of them (the ``filtered`` row: ids of the message and event, no payload, no user id)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from clickstream.core.reasons import FilterReason
from clickstream.core.tables import REPLAYED_AT, table_specs
from emitters.events import Consent
from pipelines.rules.privacy_filter import erased_users, filter_reason, filtered_row
from pipelines.timefmt import iso, parse_iso_ms
from tests.support.teststream import T0_MS, decoded, paused

DAY_MS = 86_400_000
NOW_MS = T0_MS + 10 * DAY_MS


def _event(user: str = "amy", consent: Consent | None = None) -> dict:
    return decoded(replace(paused(user, 0), consent=consent))


GRANTED = Consent(analytics=True, personalization=False)
DENIED = Consent(analytics=False, personalization=True)


@pytest.mark.parametrize(
    ("consent", "default", "reason"),
    [
        (GRANTED, "granted", None),
        (GRANTED, "denied", None),  # a record says what the person chose, whatever the default
        (DENIED, "granted", FilterReason.CONSENT_DENIED),
        (DENIED, "denied", FilterReason.CONSENT_DENIED),
        (None, "granted", None),  # no record: the configured default decides
        (None, "denied", FilterReason.CONSENT_DENIED),
    ],
)
def test_analytics_consent_denied_or_absent_under_a_denied_default_is_filtered(consent, default, reason) -> None:
    assert filter_reason(_event(consent=consent), default, {}, NOW_MS, 30) == reason


def test_an_unknown_consent_default_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="consent_default"):
        filter_reason(_event(), "maybe", {}, NOW_MS, 30)


def test_an_erased_user_is_filtered_within_the_suppression_period_only() -> None:
    event = _event("amy", GRANTED)
    amy = event["user_id"]  # whatever id the decoded row holds (a pseudonym): the requests hold the same
    within = {amy: NOW_MS - 29 * DAY_MS}
    after = {amy: NOW_MS - 31 * DAY_MS}
    assert filter_reason(event, "granted", within, NOW_MS, 30) == FilterReason.ERASED_USER
    assert filter_reason(event, "granted", after, NOW_MS, 30) is None
    assert filter_reason(_event("bob", GRANTED), "granted", within | {"bob-other": NOW_MS}, NOW_MS, 30) is None


def test_an_erased_user_who_also_denied_consent_counts_as_erased() -> None:
    event = _event("amy", DENIED)
    assert filter_reason(event, "granted", {event["user_id"]: NOW_MS}, NOW_MS, 30) == FilterReason.ERASED_USER


def test_erased_users_keeps_each_pseudonyms_newest_request() -> None:
    requests = [
        {"user_ids": ["p1", "p1-old-key"], "requested_at": iso(NOW_MS - 40 * DAY_MS)},
        {"user_ids": ["p1"], "requested_at": datetime.fromtimestamp((NOW_MS - DAY_MS) / 1000, tz=UTC)},
        {"user_ids": ["p2"], "requested_at": iso(NOW_MS - 2 * DAY_MS)},
        {"user_ids": [], "requested_at": iso(NOW_MS)},
    ]
    assert erased_users(requests) == {
        "p1": NOW_MS - DAY_MS,
        "p1-old-key": NOW_MS - 40 * DAY_MS,
        "p2": NOW_MS - 2 * DAY_MS,
    }


def test_a_deletion_request_without_requested_at_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="requested_at"):
        erased_users([{"user_ids": ["p1"]}])


def test_the_filtered_row_of_a_consent_denied_event_keeps_no_payload_but_the_users_pseudonym() -> None:
    event = _event("amy", DENIED)
    row = filtered_row(event, FilterReason.CONSENT_DENIED, NOW_MS)
    assert row == {
        "message_id": event["message_id"],
        "publish_time": event["publish_time"],
        "event_id": event["event_id"],
        "event_type": "VideoPaused",
        "reason": "consent_denied",
        "filtered_at": iso(NOW_MS),
        "user_id": event["user_id"],  # the pseudonym: the record of their refusal (erasure deletes it)
    }
    assert set(row) == set(table_specs()["filtered"].field_names()) - {REPLAYED_AT}  # set by a replay only
    assert "amy" not in repr(row) and event["device_id"] not in repr(row)


def test_the_filtered_row_of_an_erased_user_keeps_no_user_id() -> None:
    event = _event("amy", GRANTED)
    row = filtered_row(event, FilterReason.ERASED_USER, NOW_MS)
    assert row["user_id"] is None and event["user_id"] not in repr(row)


def test_a_replay_long_after_the_suppression_period_stores_an_erased_users_events_again() -> None:
    """A replay (archive, Pub/Sub seek) processes old events long after the request: an event
    published at or before the request is the forgotten person's whatever the date."""
    event = _event("amy", GRANTED)  # published at about T0
    amy, published_ms = event["user_id"], parse_iso_ms(event["publish_time"])
    replayed_at = published_ms + 400 * DAY_MS
    assert filter_reason(event, "granted", {amy: published_ms + DAY_MS}, replayed_at, 30) == FilterReason.ERASED_USER
    assert filter_reason(event, "granted", {amy: published_ms}, replayed_at, 30) == FilterReason.ERASED_USER
    # Published after the request and processed after the period: the person is back, by their choice.
    assert filter_reason(event, "granted", {amy: published_ms - 31 * DAY_MS}, replayed_at, 30) is None


def test_an_erased_users_event_without_publish_time_is_judged_by_its_event_time() -> None:
    event = {**_event("amy", GRANTED), "publish_time": None}
    amy, event_ms = event["user_id"], parse_iso_ms(event["event_ts"])
    later = event_ms + 400 * DAY_MS
    assert filter_reason(event, "granted", {amy: event_ms + 1}, later, 30) == FilterReason.ERASED_USER
    assert filter_reason(event, "granted", {amy: event_ms - 1}, later, 30) is None
