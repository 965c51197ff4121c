"""Decode and validate one message; correct clock skew. Never raises.

Every message yields exactly one ``Outcome``: an event row for ``events`` (before
enrichment) or a dead-letter row with a stable reason code. Reasons by stage:

* ``decode``: ``payload_too_large``, ``empty_payload``, ``unknown_schema_version``,
  ``missing_schema_version``, ``undecodable``
* ``validate``: the rest of ``clickstream.core.reasons.Reason``.

Both personal ids leave as pseudonyms (``clickstream.core.pseudonyms``): the event row's
``user_id``/``device_id``, and a dead letter's payload, ids and texts (``rules.pseudonymise``).

The rules and every threshold are the contract's, in ``schemas/validation.json`` (read here
through ``contract.validation_rules``); the README's rule table is generated from that file.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from clickstream.core import contract
from clickstream.core.pseudonyms import Keyring
from clickstream.core.reasons import Reason, Stage
from pipelines.messages import RawMessage
from pipelines.rules import pseudonymise
from pipelines.rules.enrich import SHOWN
from pipelines.rules.privacy_filter import GRANTED
from pipelines.rules.tracing import collector_columns, trace_columns
from pipelines.timefmt import iso, parse_iso_ms

_RULES = contract.validation_rules()
_TS_FROM_MS = parse_iso_ms(_RULES["timestamps"]["from"])
_TS_UNTIL_MS = parse_iso_ms(_RULES["timestamps"]["until"])
_POSITION = _RULES["position"]
_DURATION_MAX_MS = _RULES["duration"]["max_ms"]
_RATE = _RULES["playback_rate"]
_SLOT_RANK = _RULES["slot_rank"]
_SHOWN_ITEMS = _RULES["shown_items"]
_CROSS_CHECKED_ATTRIBUTES = ("event_id", "event_type", "schema_version")

_VIDEO_PAUSED = contract.payload_branch("VideoPaused")
_THUMBNAIL_CLICKED = contract.payload_branch("ThumbnailClicked")
_THUMBNAILS_SHOWN = contract.payload_branch("ThumbnailsShown")
_BRANCH_TYPE = {
    _VIDEO_PAUSED: "VideoPaused",
    _THUMBNAIL_CLICKED: "ThumbnailClicked",
    _THUMBNAILS_SHOWN: "ThumbnailsShown",
}


@dataclass(frozen=True)
class Limits:
    """The thresholds a pipeline option may change; defaults from ``schemas/validation.json``.

    32 KiB is Segment's per-event limit (ours average ~290 bytes); 3 days is how late GA4
    accepts events; beyond the skew tolerance a client's clock is wrong and is corrected.
    """

    max_payload_bytes: int = _RULES["payload_size"]["max_bytes"]
    future_tolerance_ms: int = _RULES["future"]["future_s"] * 1000
    max_age_ms: int = _RULES["max_age"]["max_age_s"] * 1000
    skew_tolerance_ms: int = _RULES["clock_skew"]["tolerance_s"] * 1000


@dataclass(frozen=True, slots=True)
class Outcome:
    event: dict[str, Any] | None = None
    event_ts_ms: int | None = None  # corrected event time: the element timestamp downstream
    dead_letter: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.event is not None


class _Invalid(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


def correct_clock_skew(
    event_ts_ms: int, sent_at_ms: int, publish_time_ms: int | None, tolerance_ms: int
) -> tuple[int, int | None, bool]:
    """(event time, skew, corrected?) with skew = sent_at - publish_time.

    When the client's clock is off by more than the tolerance, the event time is
    re-based on the server's clock: ``publish_time - (sent_at - event_ts)``, which keeps
    the client's own measure of how long ago the event happened (Segment's fix).
    """
    if publish_time_ms is None:
        return event_ts_ms, None, False
    skew = sent_at_ms - publish_time_ms
    if abs(skew) <= tolerance_ms:
        return event_ts_ms, skew, False
    return publish_time_ms - (sent_at_ms - event_ts_ms), skew, True


def _blank(value: str) -> bool:
    # Avro already guarantees a string; blank means empty or whitespace only.
    return not value or value.isspace()


def _plausible(ms: int) -> bool:
    return _TS_FROM_MS <= ms < _TS_UNTIL_MS


def _check_publish_time(ms: int) -> None:
    if not _plausible(ms):
        raise _Invalid(
            Reason.INVALID_PUBLISH_TIME,
            f"publish_time={ms} is outside {_RULES['timestamps']['from']}..{_RULES['timestamps']['until']}",
        )


def _check_client_time(ms: int, name: str, reference_ms: int, limits: Limits, skew_fixes_it: bool) -> None:
    """A client timestamp in milliseconds. One that reads as now once taken for seconds (or
    microseconds) is a unit error, not a wrong clock: without this it would be re-based on
    publish time as clock skew, or refused as too old. Any other out-of-range value is a wrong
    clock (a device reset to 1970), which skew correction re-bases when there is a publish time
    (``skew_fixes_it``); the corrected event time is range-checked after that."""
    if _plausible(ms):
        return
    low, high = reference_ms - limits.max_age_ms, reference_ms + limits.future_tolerance_ms
    if low <= ms * 1000 <= high:
        raise _Invalid(Reason.WRONG_TIMESTAMP_UNIT, f"{name}={ms} looks like seconds, not milliseconds")
    if low <= ms // 1000 <= high:
        raise _Invalid(Reason.WRONG_TIMESTAMP_UNIT, f"{name}={ms} looks like microseconds, not milliseconds")
    if not skew_fixes_it:
        raise _Invalid(
            Reason.INVALID_TIMESTAMP,
            f"{name}={ms} is outside {_RULES['timestamps']['from']}..{_RULES['timestamps']['until']}",
        )


def _check_attributes(record: dict[str, Any], attributes: dict[str, str]) -> None:
    """The routing attributes must say what the payload says. On Dataflow the attributes are
    read without decoding (ordering, filtering, dashboards), so a contradiction is refused
    rather than stored under either name."""
    for name in _CROSS_CHECKED_ATTRIBUTES:
        given = attributes.get(name)
        if given is not None and given != record[name]:
            raise _Invalid(
                Reason.ATTRIBUTE_MISMATCH, f"attribute {name}={given!r} but the payload says {record[name]!r}"
            )


def _validate(
    record: dict[str, Any], raw: RawMessage, limits: Limits, now_ms: int, pseudonym: Callable[[str], str]
) -> Outcome:
    """All checks first, then the row: this runs once per message, so it stays lean."""
    event_type = record["event_type"]
    branch, payload = record["payload"]
    if event_type not in contract.EVENT_TYPES:
        raise _Invalid(Reason.UNKNOWN_EVENT_TYPE, f"event_type {event_type!r} is not one of {contract.EVENT_TYPES}")
    if _BRANCH_TYPE.get(branch) != event_type:
        raise _Invalid(Reason.EVENT_TYPE_MISMATCH, f"event_type {event_type} carries a {branch} payload")
    _check_attributes(record, raw.attributes)
    event_id = record["event_id"]
    if not contract.is_uuid(event_id):
        raise _Invalid(Reason.INVALID_EVENT_ID, f"event_id {event_id!r} is not a UUID")
    if _blank(record["user_id"]):
        raise _Invalid(Reason.MISSING_USER_ID, "user_id is empty")
    if _blank(record["device_id"]):
        raise _Invalid(Reason.MISSING_DEVICE_ID, "device_id is empty")
    shown = event_type == SHOWN
    if shown:
        _check_shown(payload)
    elif _blank(payload["video_id"]):
        raise _Invalid(Reason.MISSING_VIDEO_ID, "video_id is empty")
    client_ts, sent_at = record["event_ts"], record["sent_at"]
    publish_ms = raw.publish_time_ms
    if publish_ms is not None:
        _check_publish_time(publish_ms)
    reference = publish_ms if publish_ms is not None else now_ms
    has_publish = publish_ms is not None
    _check_client_time(client_ts, "event_ts", reference, limits, skew_fixes_it=has_publish)
    _check_client_time(sent_at, "sent_at", reference, limits, skew_fixes_it=has_publish)

    paused = event_type == "VideoPaused"
    if paused:
        position, duration, rate = payload["position_ms"], payload["video_duration_ms"], payload["playback_rate"]
        if position < 0:
            raise _Invalid(Reason.NEGATIVE_POSITION, f"position_ms={position} < 0")
        if position > _POSITION["max_ms"]:
            raise _Invalid(Reason.POSITION_OUT_OF_RANGE, f"position_ms={position} > {_POSITION['max_ms']}")
        if duration is not None and not 0 < duration <= _DURATION_MAX_MS:
            raise _Invalid(Reason.INVALID_DURATION, f"video_duration_ms={duration} is not in (0, {_DURATION_MAX_MS}]")
        if duration is not None and position > duration + _POSITION["slack_ms"]:
            raise _Invalid(Reason.POSITION_BEYOND_DURATION, f"position_ms={position} > video_duration_ms={duration}")
        if rate is not None and not (math.isfinite(rate) and _RATE["min_exclusive"] < rate <= _RATE["max"]):
            raise _Invalid(
                Reason.INVALID_PLAYBACK_RATE,
                f"playback_rate={rate} is not in ({_RATE['min_exclusive']}, {_RATE['max']}]",
            )
    elif not shown:
        _check_slot_rank(payload, "")
        if _blank(payload["surface"]):
            raise _Invalid(Reason.MISSING_SURFACE, "surface is empty")
        if _blank(payload["impression_id"]):
            raise _Invalid(Reason.MISSING_IMPRESSION_ID, "impression_id is empty")

    event_ts, skew, corrected = correct_clock_skew(client_ts, sent_at, publish_ms, limits.skew_tolerance_ms)
    if not _plausible(event_ts):  # a wrong clock that correction could not bring into range
        raise _Invalid(
            Reason.INVALID_TIMESTAMP, f"event time {event_ts} (client {client_ts}, sent_at {sent_at}) is out of range"
        )
    if event_ts > reference + limits.future_tolerance_ms:
        raise _Invalid(Reason.EVENT_TIME_IN_FUTURE, f"event time {iso(event_ts)} is after {iso(reference)}")
    if reference - event_ts > limits.max_age_ms:
        raise _Invalid(Reason.EVENT_TIME_TOO_OLD, f"event time {iso(event_ts)} is older than the maximum age")

    client = record["client"]
    consent = record.get("consent")  # None: no record (before 1.2, or the client sent none)
    client_iso = iso(client_ts)
    envelope = {
        "event_id": event_id,
        "event_type": event_type,
        "schema_version": record["schema_version"],
        "event_ts": iso(event_ts) if corrected else client_iso,
        "client_event_ts": client_iso,
        "sent_at": iso(sent_at),
        "publish_time": iso(publish_ms) if publish_ms is not None else None,
        "clock_skew_ms": skew,
        "skew_corrected": corrected,
        "user_id": pseudonym(record["user_id"]),
        "device_id": pseudonym(record["device_id"]),
        "platform": client["platform"],
        "app_version": client["app_version"],
        "user_agent": client["user_agent"],
        "locale": client.get("locale"),
        "message_id": raw.message_id,
        "consent_analytics": consent["analytics"] if consent else None,
        "consent_personalization": consent["personalization"] if consent else None,
        "consent_policy_version": consent["policy_version"] if consent else None,
        **trace_columns(raw.attributes),
        **collector_columns(raw.attributes),
    }
    if shown:
        return Outcome(event={**envelope, **_shown_columns(payload)}, event_ts_ms=event_ts)
    row = {
        **envelope,
        "video_id": payload["video_id"],
        "position_ms": position if paused else None,
        "video_duration_ms": duration if paused else None,
        "playback_rate": rate if paused else None,
        "watch_ratio": None,
        "impression_id": None if paused else payload["impression_id"],
        "surface": None if paused else payload["surface"],
        "slot": None if paused else payload["slot"],
        "rank": None if paused else payload["rank"],
        "recommendation_request_id": None if paused else payload["recommendation_request_id"],
        "thumbnail_variant": None if paused else payload.get("thumbnail_variant"),
    }
    return Outcome(event=row, event_ts_ms=event_ts)


def _check_slot_rank(item: dict[str, Any], where: str) -> None:
    low, high = _SLOT_RANK["min"], _SLOT_RANK["max"]
    if not low <= item["slot"] <= high:
        raise _Invalid(Reason.INVALID_SLOT, f"{where}slot={item['slot']} is not in [{low}, {high}]")
    if not low <= item["rank"] <= high:
        raise _Invalid(Reason.INVALID_RANK, f"{where}rank={item['rank']} is not in [{low}, {high}]")


def _check_shown(payload: dict[str, Any]) -> None:
    """A ThumbnailsShown row (``shown_items``, ``shown_text``, ``slot_rank`` of validation.json).
    One bad thumbnail refuses the whole row: its impressions are one observation of what the
    viewer was shown, and a partial row would bias the position estimates it feeds."""
    if _blank(payload["request_id"]):
        raise _Invalid(Reason.MISSING_REQUEST_ID, "request_id is empty")
    if _blank(payload["surface"]):
        raise _Invalid(Reason.MISSING_SURFACE, "surface is empty")
    items = payload["items"]
    if len(items) < _SHOWN_ITEMS["min"]:
        raise _Invalid(Reason.NO_ITEMS, f"{len(items)} items, fewer than {_SHOWN_ITEMS['min']}")
    if len(items) > _SHOWN_ITEMS["max"]:
        raise _Invalid(Reason.TOO_MANY_ITEMS, f"{len(items)} items, more than {_SHOWN_ITEMS['max']}")
    seen: set[str] = set()
    for k, item in enumerate(items):
        where = f"items[{k}]."
        _check_slot_rank(item, where)
        if _blank(item["video_id"]):
            raise _Invalid(Reason.MISSING_VIDEO_ID, f"{where}video_id is empty")
        impression_id = item["impression_id"]
        if _blank(impression_id):
            raise _Invalid(Reason.MISSING_IMPRESSION_ID, f"{where}impression_id is empty")
        if impression_id in seen:
            raise _Invalid(Reason.DUPLICATE_IMPRESSION_ID, f"{where}impression_id {impression_id!r} appears twice")
        seen.add(impression_id)


def _shown_columns(payload: dict[str, Any]) -> dict[str, Any]:
    """What a ThumbnailsShown adds to the envelope columns: the row's request and its items, which
    become ``impressions`` rows after enrichment (``rules.impressions``)."""
    exploration = payload.get("exploration")
    return {
        "request_id": payload["request_id"],
        "surface": payload["surface"],
        "model_version": payload.get("model_version"),
        "experiment_ids": list(payload.get("experiment_ids") or ()),
        "exploration_method": exploration["method"] if exploration else None,
        "exploration_swapped_rank": exploration["swapped_rank"] if exploration else None,
        "exploration_propensity": exploration["propensity"] if exploration else None,
        "items": [
            {
                "video_id": item["video_id"],
                "impression_id": item["impression_id"],
                "slot": item["slot"],
                "rank": item["rank"],
                "grid_row": item.get("row"),
                "grid_col": item.get("col"),
                "visible_ms": item.get("visible_ms"),
            }
            for item in payload["items"]
        ],
    }


def _dead(
    raw: RawMessage,
    keyring: Keyring,
    now_ms: int,
    stage: str,
    reason: str,
    error: str,
    record: dict[str, Any] | None = None,
    version: str | None = None,
    consent_default: str = GRANTED,
) -> Outcome:
    source = record if record else raw.attributes
    return Outcome(
        dead_letter=pseudonymise.dead_letter(
            raw,
            keyring,
            stage,
            reason,
            error,
            version=version,
            record=record,
            consent_default=consent_default,
            event_id=source.get("event_id"),
            event_type=source.get("event_type"),
            now_ms=now_ms,
        )
    )


def _decode_unlabelled(data: bytes) -> dict[str, Any]:
    """A message without a ``schema_version`` attribute (a client that sets no attributes):
    Avro bytes do not say which revision wrote them, and reading 1.0 bytes as 1.1 misreads
    them. Every record names its own revision, so the one revision, newest first, whose
    schema reads all the bytes and whose record names that same revision is the writer."""
    for version in reversed(contract.revisions()):
        try:
            record = contract.decode(data, version)
        except Exception:  # not this revision's bytes
            continue
        if record.get("schema_version") == version:
            return record
    raise _Invalid(
        Reason.MISSING_SCHEMA_VERSION,
        f"no schema_version attribute, and the bytes are no event of revision {', '.join(contract.revisions())}",
    )


def read_record(data: bytes, version: str | None) -> dict[str, Any]:
    """The contract record ``data`` holds, read as ``decode_and_validate`` reads it (by the
    ``schema_version`` attribute, or the revision the bytes name); raises when it holds none."""
    return contract.decode(data, version) if version else _decode_unlabelled(data)


def decode_and_validate(
    raw: RawMessage, limits: Limits, keyring: Keyring, now_ms: int | None = None, consent_default: str = GRANTED
) -> Outcome:
    """Exactly one outcome per message; any failure becomes a dead letter with its reason.

    ``consent_default`` (``--consent_default``): what an event without a consent record means; a
    failing event whose person refused analytics becomes a dead letter without payload.

    ``keyring`` pseudonymises the ids (unless ``raw.ids_pseudonymised``: a replayed dead letter
    whose ids are pseudonyms already). ``now_ms`` is only the reference for messages without a
    publish time (replay files).
    """
    cd = consent_default
    now = now_ms if now_ms is not None else time.time_ns() // 1_000_000
    data = raw.data
    version = raw.attributes.get("schema_version")
    if not data:
        return _dead(raw, keyring, now, Stage.DECODE, Reason.EMPTY_PAYLOAD, "message has no data", consent_default=cd)
    if len(data) > limits.max_payload_bytes:
        return _dead(
            raw,
            keyring,
            now,
            Stage.DECODE,
            Reason.PAYLOAD_TOO_LARGE,
            f"{len(data)} bytes > max_payload_bytes={limits.max_payload_bytes}",
            version=version,
            consent_default=cd,
        )
    try:
        record = read_record(data, version)
    except contract.UnknownSchemaVersion as exc:
        return _dead(
            raw,
            keyring,
            now,
            Stage.DECODE,
            Reason.UNKNOWN_SCHEMA_VERSION,
            str(exc),
            version=version,
            consent_default=cd,
        )
    except _Invalid as exc:
        return _dead(raw, keyring, now, Stage.DECODE, exc.reason, str(exc), consent_default=cd)
    except Exception as exc:  # fastavro raises many types for bytes that are not the contract
        error = f"{type(exc).__name__}: {exc}"
        return _dead(raw, keyring, now, Stage.DECODE, Reason.UNDECODABLE, error, version=version, consent_default=cd)
    version = version or record.get("schema_version")
    try:
        return _validate(record, raw, limits, now, pseudonymise.pseudonymiser(raw, keyring))
    except _Invalid as exc:
        return _dead(raw, keyring, now, Stage.VALIDATE, exc.reason, str(exc), record, version, cd)
    except Exception as exc:  # a value the checks did not foresee must still land somewhere
        error = f"{type(exc).__name__}: {exc}"
        return _dead(raw, keyring, now, Stage.VALIDATE, Reason.INVALID_VALUE, error, record, version, cd)
