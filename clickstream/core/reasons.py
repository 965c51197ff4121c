"""The one vocabulary of outcomes: why a message was dead-lettered, and at which stage.

The pipeline writes these codes into ``dead_letters.reason`` and ``dead_letters.stage``, the
simulator names the invalid events it makes after the reason the pipeline will give them,
the ledger (``sql/views/message_outcomes.sql``) groups by them, and the tests compare with
them. A reason is a stable, machine-readable code: renaming one is a breaking change for
every query that filters on it.
"""

from __future__ import annotations

from enum import StrEnum


class Stage(StrEnum):
    """Where in the pipeline a message was dead-lettered."""

    COLLECT = "collect"  # the HTTP collector refused the event; it never reached the events topic
    READ = "read"  # a replay input (archive line or record) that is not a message at all
    DECODE = "decode"  # the bytes are not an event of a known revision
    VALIDATE = "validate"  # a well-formed event with a value the contract forbids
    SINK = "sink"  # the warehouse refused the row (the table is in ``dead_letters.refused_table``)


class Reason(StrEnum):
    """Why a message was dead-lettered (``dead_letters.reason``)."""

    # collect (the HTTP collector; an event of a batch that does not fit the contract)
    NOT_AN_EVENT = "not_an_event"  # a batch item that is not a JSON object
    CONTRACT_VIOLATION = "contract_violation"  # a field missing or of the wrong type for the Avro contract
    # read (replay only)
    UNREADABLE_ARCHIVE_LINE = "unreadable_archive_line"  # not JSON, bad base64 or publish_time, ...
    # decode
    EMPTY_PAYLOAD = "empty_payload"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNKNOWN_SCHEMA_VERSION = "unknown_schema_version"
    MISSING_SCHEMA_VERSION = "missing_schema_version"  # no attribute, and no revision reads the bytes
    UNDECODABLE = "undecodable"
    # validate
    ATTRIBUTE_MISMATCH = "attribute_mismatch"  # an attribute contradicts the payload
    UNKNOWN_EVENT_TYPE = "unknown_event_type"
    EVENT_TYPE_MISMATCH = "event_type_mismatch"
    INVALID_EVENT_ID = "invalid_event_id"
    MISSING_USER_ID = "missing_user_id"
    MISSING_DEVICE_ID = "missing_device_id"
    MISSING_VIDEO_ID = "missing_video_id"
    INVALID_TIMESTAMP = "invalid_timestamp"
    WRONG_TIMESTAMP_UNIT = "wrong_timestamp_unit"  # seconds or microseconds where milliseconds belong
    INVALID_PUBLISH_TIME = "invalid_publish_time"  # a replayed archive's publish time out of range
    NEGATIVE_POSITION = "negative_position"
    POSITION_OUT_OF_RANGE = "position_out_of_range"
    INVALID_DURATION = "invalid_duration"
    POSITION_BEYOND_DURATION = "position_beyond_duration"
    INVALID_PLAYBACK_RATE = "invalid_playback_rate"
    INVALID_SLOT = "invalid_slot"
    INVALID_RANK = "invalid_rank"
    MISSING_SURFACE = "missing_surface"
    MISSING_IMPRESSION_ID = "missing_impression_id"
    MISSING_REQUEST_ID = "missing_request_id"  # a ThumbnailsShown row without its recommender request
    NO_ITEMS = "no_items"  # a ThumbnailsShown row that showed nothing
    TOO_MANY_ITEMS = "too_many_items"  # more thumbnails in one row than validation.json allows
    DUPLICATE_IMPRESSION_ID = "duplicate_impression_id"  # two thumbnails of one row with one impression_id
    EVENT_TIME_IN_FUTURE = "event_time_in_future"
    EVENT_TIME_TOO_OLD = "event_time_too_old"
    INVALID_VALUE = "invalid_value"  # a value the checks above did not foresee
    # sink
    WAREHOUSE_REJECTED = "warehouse_rejected"


STAGE_OF: dict[Reason, Stage] = {
    **{
        r: Stage.DECODE
        for r in (
            Reason.EMPTY_PAYLOAD,
            Reason.PAYLOAD_TOO_LARGE,
            Reason.UNKNOWN_SCHEMA_VERSION,
            Reason.MISSING_SCHEMA_VERSION,
            Reason.UNDECODABLE,
        )
    },
    Reason.WAREHOUSE_REJECTED: Stage.SINK,
    Reason.UNREADABLE_ARCHIVE_LINE: Stage.READ,
    Reason.NOT_AN_EVENT: Stage.COLLECT,
    Reason.CONTRACT_VIOLATION: Stage.COLLECT,
}
for _reason in Reason:
    STAGE_OF.setdefault(_reason, Stage.VALIDATE)


class FilterReason(StrEnum):
    """Why a valid event was deliberately not stored (``filtered.reason``): it is counted in the
    ledger as ``filtered`` and nothing of it is kept beyond its message and event ids."""

    CONSENT_DENIED = "consent_denied"  # analytics consent denied (or absent, with consent_default=denied)
    ERASED_USER = "erased_user"  # the person asked to be forgotten; their new events are dropped for a while


class Outcome(StrEnum):
    """Where a published message ended (``message_outcomes.outcome``): exactly one per message."""

    STORED = "stored"
    DEAD_LETTER = "dead_letter"
    DUPLICATE = "duplicate"
    FILTERED = "filtered"
