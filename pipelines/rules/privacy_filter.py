"""Privacy filter rules: which valid events are deliberately not stored, and what is kept of them.

An event is filtered (``clickstream.core.reasons.FilterReason``) when

* its person asked to be forgotten (``erased_user``): their pseudonym is in a deletion request
  and the event was published (``publish_time``, or its event time when it has none) at or
  before the request, whatever the date, so a replay (archive, Pub/Sub seek) long after the
  request does not store it again; or it is processed less than ``suppression_days`` after the
  request, so events a client still sends after the erasure ran do not bring the person back.
  This is checked first: it is the stronger reason, and the one an operator following a
  deletion request looks for;
* its analytics consent is denied (``consent_denied``), or it carries no consent record and the
  pipeline's ``consent_default`` is ``denied``.

A filtered event leaves one ``filtered`` row: the ids of its message and event (random, no
personal data), its type and why. No payload, no device id: the ledger counts it. A
``consent_denied`` row keeps the person's pseudonym (``user_id``) as the record of their refusal,
so the signal job can honour a withdrawal of consent (erasure deletes it); an ``erased_user`` row
keeps none. The rules work on whatever ``user_id`` the decoded row holds (a pseudonym
since DecodeAndValidate pseudonymises it; ``deletion_requests.user_ids`` holds the same).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from clickstream.core.reasons import FilterReason
from pipelines.timefmt import datetime_ms, iso, parse_iso_ms

# What an event without a consent record means (pipelines.options --consent_default).
GRANTED, DENIED = "granted", "denied"
CONSENT_DEFAULTS = (GRANTED, DENIED)
DAY_MS = 86_400_000

# Pseudonym -> when its newest deletion request was made (ms since the epoch).
ErasedUsers = Mapping[str, int]


def _ms(value: Any) -> int:
    if isinstance(value, datetime):
        return datetime_ms(value)
    if isinstance(value, str):
        return parse_iso_ms(value)
    raise ValueError(f"requested_at {value!r} is not a timestamp")


def erased_users(requests: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """The pseudonyms of ``deletion_requests`` rows (``user_ids``, ``requested_at``: an ISO
    string from a JSON-lines file, a datetime from BigQuery), each with its newest request."""
    erased: dict[str, int] = {}
    for request in requests:
        if request.get("requested_at") is None:
            raise ValueError(f"a deletion request without requested_at: {request.get('request_id')!r}")
        requested_ms = _ms(request["requested_at"])
        for user_id in request.get("user_ids") or ():
            erased[user_id] = max(requested_ms, erased.get(user_id, requested_ms))
    return erased


def _published_ms(event: Mapping[str, Any]) -> int:
    """When the event was published: its publish time, or its event time when it has none (a
    replay file)."""
    return parse_iso_ms(event.get("publish_time") or event["event_ts"])


def analytics_denied(analytics: bool | None, consent_default: str) -> bool:
    """Whether a person refused analytics: ``analytics`` is their record's answer (None: no record,
    the pipeline's ``consent_default`` decides). The one rule for the filter and for dead letters."""
    if consent_default not in CONSENT_DEFAULTS:
        raise ValueError(f"consent_default must be one of {CONSENT_DEFAULTS}, not {consent_default!r}")
    return analytics is False or (analytics is None and consent_default == DENIED)


def filter_reason(
    event: Mapping[str, Any], consent_default: str, erased: ErasedUsers, now_ms: int, suppression_days: int
) -> FilterReason | None:
    """Why ``event`` (a decoded ``events`` row) is not stored, or None to store it."""
    if consent_default not in CONSENT_DEFAULTS:
        raise ValueError(f"consent_default must be one of {CONSENT_DEFAULTS}, not {consent_default!r}")
    requested_ms = erased.get(event.get("user_id") or "")
    # The period is checked when the event arrives, so a pipeline that read the requests once
    # (locally) stops suppressing a person when their period ends, as one that re-reads them does.
    if requested_ms is not None and (
        _published_ms(event) <= requested_ms or now_ms - requested_ms < suppression_days * DAY_MS
    ):
        return FilterReason.ERASED_USER
    if analytics_denied(event.get("consent_analytics"), consent_default):
        return FilterReason.CONSENT_DENIED
    return None


def filtered_row(event: Mapping[str, Any], reason: FilterReason, now_ms: int) -> dict[str, Any]:
    """The ``filtered`` row of an event that is not stored: its one outcome in the ledger."""
    return {
        "message_id": event.get("message_id"),
        "publish_time": event.get("publish_time"),
        "event_id": event.get("event_id"),
        "event_type": event.get("event_type"),
        "reason": str(reason),
        "filtered_at": iso(now_ms),
        "user_id": event.get("user_id") if reason == FilterReason.CONSENT_DENIED else None,
    }
