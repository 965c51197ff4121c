"""Decode/validate rules: every dead-letter reason, and the skew correction maths."""

from __future__ import annotations

import base64
import json
import math
from dataclasses import replace

import pytest

from clickstream.core import attributes as attr
from clickstream.core import contract
from clickstream.core.reasons import Reason
from clickstream.core.sealing import open_sealed
from emitters.events import Exploration, ShownThumbnail, ThumbnailClicked, ThumbnailsShown, VideoPaused
from pipelines.messages import RawMessage, raw_from_dead_letter
from pipelines.rules.collect import rejected_dead_letter
from pipelines.rules.decode import Limits, correct_clock_skew, decode_and_validate
from tests.support.collector_items import json_item
from tests.support.keys import keyring, pseudonym
from tests.support.teststream import T0_MS, clicked, message, paused, shown

LIMITS = Limits(max_age_ms=3 * 86_400_000)


def outcome_for(event, **message_kw):
    record = event.to_record()
    data = contract.encode(record, event.schema_version)
    raw = RawMessage(
        data=data,
        attributes=event.attributes(),
        message_id="m-1",
        publish_time_ms=message_kw.get("publish_time_ms", T0_MS + 150),
    )
    return decode_and_validate(raw, LIMITS, keyring(), now_ms=T0_MS)


def with_payload(event, **changes):
    return replace(event, payload=replace(event.payload, **changes))


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (with_payload(paused("u", 0), position_ms=-1), "negative_position"),
        (with_payload(paused("u", 0), video_duration_ms=0), "invalid_duration"),
        (with_payload(paused("u", 0), position_ms=500_000, video_duration_ms=300_000), "position_beyond_duration"),
        (with_payload(paused("u", 0), playback_rate=math.nan), "invalid_playback_rate"),
        (with_payload(paused("u", 0), playback_rate=-1.0), "invalid_playback_rate"),
        (with_payload(paused("u", 0), video_id=""), "missing_video_id"),
        (with_payload(clicked("u", 0), slot=0), "invalid_slot"),
        (with_payload(clicked("u", 0), rank=0), "invalid_rank"),
        (with_payload(clicked("u", 0), surface=" "), "missing_surface"),
        (with_payload(clicked("u", 0), impression_id=""), "missing_impression_id"),
        (replace(paused("u", 0), user_id=""), "missing_user_id"),
        (replace(paused("u", 0), device_id=""), "missing_device_id"),
        (replace(paused("u", 0), event_id="not-a-uuid"), "invalid_event_id"),
        (replace(paused("u", 0), event_type="VideoSeeked"), "unknown_event_type"),
        (replace(paused("u", 0), event_type="ThumbnailClicked"), "event_type_mismatch"),
        (replace(paused("u", 0), event_ts_ms=-5), "invalid_timestamp"),
        (replace(paused("u", 0), event_ts_ms=10**17), "invalid_timestamp"),
    ],
)
def test_each_validation_reason(event, reason) -> None:
    outcome = outcome_for(event)
    assert not outcome.ok
    assert outcome.dead_letter["reason"] == reason
    assert outcome.dead_letter["stage"] == "validate"
    assert outcome.dead_letter["event_id"] == event.event_id
    assert outcome.dead_letter["error"]


def test_future_and_too_old_event_times() -> None:
    future = replace(paused("u", 0), event_ts_ms=T0_MS + 2 * 86_400_000, sent_at_ms=T0_MS + 100)
    assert outcome_for(future, publish_time_ms=T0_MS + 200).dead_letter["reason"] == "event_time_in_future"
    old = replace(paused("u", 0), event_ts_ms=T0_MS - 4 * 86_400_000, sent_at_ms=T0_MS + 100)
    assert outcome_for(old, publish_time_ms=T0_MS + 200).dead_letter["reason"] == "event_time_too_old"
    within = replace(paused("u", 0), event_ts_ms=T0_MS - 2 * 86_400_000, sent_at_ms=T0_MS + 100)
    assert outcome_for(within, publish_time_ms=T0_MS + 200).ok


@pytest.mark.parametrize(
    ("data", "attributes", "reason"),
    [
        (b"", {}, "empty_payload"),
        (b"x" * 40_000, {}, "payload_too_large"),
        (b"\x00\x01\x02", {"schema_version": "1.1"}, "undecodable"),
        (b"\xff" * 10, {"schema_version": "1.1"}, "undecodable"),
        (b"\x02abc", {"schema_version": "7.0"}, "unknown_schema_version"),
    ],
)
def test_decode_reasons_keep_the_payload_sealed_for_replay(data, attributes, reason) -> None:
    raw = RawMessage(data=data, attributes=attributes, message_id="m-9", publish_time_ms=T0_MS)
    outcome = decode_and_validate(raw, LIMITS, keyring(), now_ms=T0_MS)
    assert outcome.dead_letter["reason"] == reason and outcome.dead_letter["stage"] == "decode"
    stored = raw_from_dead_letter(outcome.dead_letter)
    if data:  # bytes that are no event may hold raw ids anywhere: sealed
        assert outcome.dead_letter["payload_ids"] == "encrypted" and data not in stored.data
        stored = replace(stored, data=open_sealed(keyring(), stored.data))
    assert stored == raw  # everything needed to replay


def test_a_dead_letter_keeps_the_publish_time_to_the_millisecond() -> None:
    raw = RawMessage(data=b"", attributes={}, message_id="m-1", publish_time_ms=2_176_038_127_141)
    letter = decode_and_validate(raw, LIMITS, keyring(), now_ms=T0_MS).dead_letter
    assert letter["publish_time"] == "2038-12-15T15:02:07.141Z"
    assert raw_from_dead_letter(letter).publish_time_ms == raw.publish_time_ms


def test_trailing_bytes_are_not_silently_ignored() -> None:
    raw = message(paused("u", 0))
    outcome = decode_and_validate(replace(raw, data=raw.data + b"\x00\x00"), LIMITS, keyring(), now_ms=T0_MS)
    assert outcome.dead_letter["reason"] == "undecodable" and "trailing" in outcome.dead_letter["error"]


def test_valid_event_row_matches_the_events_table_columns() -> None:
    from clickstream.core.tables import REPLAYED_AT, table_specs
    from pipelines.rules.enrich import enrich

    outcome = outcome_for(clicked("u", 0))
    assert outcome.ok and outcome.event_ts_ms == T0_MS
    row = enrich(outcome.event, {}, "2026-01-01T00:00:00.000Z")
    assert set(row) == set(table_specs()["events"].field_names()) - {REPLAYED_AT}  # set by a replay only


def test_skew_correction_keeps_the_clients_measure_of_elapsed_time() -> None:
    # Client clock 2 h behind: event 30 s before sending, published 0.2 s after sending.
    publish = T0_MS
    sent = publish - 2 * 3_600_000 - 200
    event_ts, skew, corrected = correct_clock_skew(sent - 30_000, sent, publish, 60_000)
    assert corrected and skew == sent - publish
    assert event_ts == publish - 30_000
    # Within tolerance nothing changes.
    assert correct_clock_skew(T0_MS, T0_MS + 500, T0_MS + 400, 60_000) == (T0_MS, 100, False)
    # Without a publish time (a replay file that lacks it) there is nothing to correct against.
    assert correct_clock_skew(T0_MS, T0_MS, None, 60_000) == (T0_MS, None, False)


def test_payload_types_are_known() -> None:
    # Every payload type the emitters can build is one the contract (and so the pipeline) knows.
    emitted = {VideoPaused.event_type, ThumbnailClicked.event_type, ThumbnailsShown.event_type}
    assert emitted == set(contract.EVENT_TYPES)


def _raw(event, attributes=None, publish_time_ms=T0_MS + 150, record=None, version=None) -> RawMessage:
    record = record or event.to_record()
    return RawMessage(
        data=contract.encode(record, version or event.schema_version),
        attributes=event.attributes() if attributes is None else attributes,
        message_id="m-1",
        publish_time_ms=publish_time_ms,
    )


@pytest.mark.parametrize("attribute", ["event_id", "event_type"])
def test_an_attribute_that_contradicts_the_payload_is_dead_lettered(attribute) -> None:
    # (A schema_version attribute that contradicts the record: the banana test below.)
    event = paused("u", 0)
    other = {"event_id": clicked("u", 1).event_id, "event_type": "ThumbnailClicked"}
    attributes = {**event.attributes(), attribute: other[attribute]}
    outcome = decode_and_validate(_raw(event, attributes), LIMITS, keyring(), now_ms=T0_MS)
    assert not outcome.ok
    assert outcome.dead_letter["reason"] == "attribute_mismatch", outcome.dead_letter
    assert attribute in outcome.dead_letter["error"]
    # The payload's own id names the dead letter: that is the event the bytes carry.
    assert outcome.dead_letter["event_id"] == event.event_id


def test_a_replayed_publish_time_far_in_the_future_is_refused_not_used_to_rebase() -> None:
    outcome = decode_and_validate(_raw(paused("u", 0), publish_time_ms=10**17), LIMITS, keyring(), now_ms=T0_MS)
    assert not outcome.ok and outcome.dead_letter["reason"] == "invalid_publish_time", outcome.dead_letter


def test_a_position_of_2_pow_62_is_refused_when_the_duration_is_unknown() -> None:
    event = with_payload(paused("u", 0), position_ms=2**62, video_duration_ms=None)
    assert outcome_for(event).dead_letter["reason"] == "position_out_of_range"


def test_a_record_schema_version_of_banana_is_refused() -> None:
    event = paused("u", 0)
    record = {**event.to_record(), "schema_version": "banana"}
    outcome = decode_and_validate(_raw(event, record=record), LIMITS, keyring(), now_ms=T0_MS)
    assert not outcome.ok and outcome.dead_letter["reason"] == "attribute_mismatch", outcome.dead_letter
    assert "schema_version" in outcome.dead_letter["error"]


def test_a_1_0_event_without_attributes_decodes_under_1_0() -> None:
    event = replace(with_payload(clicked("u", 0), thumbnail_variant=None), schema_version="1.0")
    record = event.to_record()
    branch, payload = record["payload"]
    record["payload"] = (branch, {k: v for k, v in payload.items() if k != "thumbnail_variant"})
    outcome = decode_and_validate(
        _raw(event, attributes={}, record=record, version="1.0"), LIMITS, keyring(), now_ms=T0_MS
    )
    assert outcome.ok, outcome.dead_letter
    assert outcome.event["schema_version"] == "1.0" and outcome.event["event_id"] == event.event_id


def test_bytes_of_no_revision_without_attributes_say_the_version_is_missing() -> None:
    raw = RawMessage(data=b"\x02abc", attributes={}, message_id="m-9", publish_time_ms=T0_MS)
    outcome = decode_and_validate(raw, LIMITS, keyring(), now_ms=T0_MS)
    assert outcome.dead_letter["reason"] == "missing_schema_version", outcome.dead_letter


def test_seconds_instead_of_milliseconds_is_a_unit_error_not_clock_skew() -> None:
    in_seconds = replace(paused("u", 0), event_ts_ms=T0_MS // 1000, sent_at_ms=T0_MS // 1000 + 1)
    outcome = outcome_for(in_seconds)
    assert not outcome.ok and outcome.dead_letter["reason"] == "wrong_timestamp_unit", outcome.dead_letter
    assert "seconds" in outcome.dead_letter["error"]
    only_event_ts = replace(paused("u", 0), event_ts_ms=T0_MS // 1000)
    assert outcome_for(only_event_ts).dead_letter["reason"] == "wrong_timestamp_unit"
    in_microseconds = replace(paused("u", 0), event_ts_ms=T0_MS * 1000)
    assert outcome_for(in_microseconds).dead_letter["reason"] == "wrong_timestamp_unit"


@pytest.mark.parametrize("reset_to_ms", [3_600_000, 1_500_000_000])
def test_a_device_clock_reset_to_1970_is_skew_corrected_not_refused(reset_to_ms) -> None:
    """A clock back at the epoch is a wrong clock, not a unit error: the event and its send
    time keep their distance, so publish time re-bases the event as before."""
    reset = replace(paused("u", 0), event_ts_ms=reset_to_ms, sent_at_ms=reset_to_ms + 200)
    outcome = outcome_for(reset, publish_time_ms=T0_MS + 150)
    assert outcome.ok, outcome.dead_letter
    assert outcome.event["skew_corrected"] and outcome.event_ts_ms == T0_MS + 150 - 200


def _item(k: int, **changes) -> ShownThumbnail:
    return replace(ShownThumbnail(video_id=f"vid-{k:06d}", impression_id=f"imp-{k}", slot=k, rank=k), **changes)


def test_thumbnails_shown_decodes_into_its_items() -> None:
    event = shown(
        "u",
        0,
        items=(_item(1, rank=4), _item(2, row=1, col=2, visible_ms=900), _item(3), _item(4, rank=1)),
        exploration=Exploration(method="swap_first", swapped_rank=4, propensity=0.0125),
    )
    outcome = outcome_for(event)
    assert outcome.ok, outcome.dead_letter
    row = outcome.event
    assert row["event_type"] == "ThumbnailsShown"
    assert row["user_id"] != "u" and row["device_id"] != "d-u"  # pseudonyms, as for every event
    assert (row["request_id"], row["surface"], row["model_version"], row["experiment_ids"]) == (
        "req-1",
        "home",
        "m-1",
        ["exp-a"],
    )
    assert (row["exploration_method"], row["exploration_swapped_rank"], row["exploration_propensity"]) == (
        "swap_first",
        4,
        0.0125,
    )
    assert [(i["video_id"], i["impression_id"], i["slot"], i["rank"]) for i in row["items"]] == [
        ("vid-000001", "imp-1", 1, 4),
        ("vid-000002", "imp-2", 2, 2),
        ("vid-000003", "imp-3", 3, 3),
        ("vid-000004", "imp-4", 4, 1),
    ]
    assert (row["items"][1]["grid_row"], row["items"][1]["grid_col"], row["items"][1]["visible_ms"]) == (1, 2, 900)
    assert row["items"][0]["grid_row"] is None and row["items"][0]["visible_ms"] is None


_MAX_ITEMS = contract.validation_rules()["shown_items"]["max"]


@pytest.mark.parametrize(
    ("items", "reason"),
    [
        ((), "no_items"),
        (tuple(_item(k) for k in range(1, _MAX_ITEMS + 2)), "too_many_items"),
        ((_item(1), _item(2, slot=0)), "invalid_slot"),
        ((_item(1), _item(2, rank=-3)), "invalid_rank"),
        ((_item(1), _item(2, video_id=" ")), "missing_video_id"),
        ((_item(1), _item(2, impression_id="")), "missing_impression_id"),
        ((_item(1), _item(2, impression_id="imp-1")), "duplicate_impression_id"),
    ],
)
def test_each_thumbnails_shown_item_rule(items, reason) -> None:
    event = shown("u", 0, items=items)
    dead = outcome_for(event).dead_letter
    assert dead is not None, "accepted"
    assert (dead["reason"], dead["stage"], dead["event_id"]) == (reason, "validate", event.event_id)
    assert dead["payload_ids"] == "pseudonymised"


def test_the_most_items_a_row_may_have_are_accepted() -> None:
    assert outcome_for(shown("u", 0, items=tuple(_item(k) for k in range(1, _MAX_ITEMS + 1)))).ok


@pytest.mark.parametrize(
    ("changes", "reason"),
    [({"request_id": ""}, "missing_request_id"), ({"surface": "  "}, "missing_surface")],
)
def test_a_thumbnails_shown_without_request_id_or_surface_is_dead_lettered(changes, reason) -> None:
    event = shown("u", 0)
    event = replace(event, payload=replace(event.payload, **changes))
    assert outcome_for(event).dead_letter["reason"] == reason


def test_event_time_rules_apply_to_thumbnails_shown() -> None:
    future = replace(shown("u", 0), event_ts_ms=T0_MS + 2 * 86_400_000, sent_at_ms=T0_MS + 100)
    assert outcome_for(future, publish_time_ms=T0_MS + 200).dead_letter["reason"] == "event_time_in_future"
    skewed = replace(shown("u", 0), event_ts_ms=T0_MS + 3_600_000, sent_at_ms=T0_MS + 3_600_100)
    outcome = outcome_for(skewed, publish_time_ms=T0_MS + 200)
    assert outcome.ok and outcome.event["skew_corrected"]


def test_a_thumbnails_shown_payload_under_another_type_is_a_mismatch() -> None:
    event = replace(shown("u", 0), event_type="ThumbnailClicked")
    assert outcome_for(event).dead_letter["reason"] == "event_type_mismatch"


def test_a_thumbnails_shown_dead_letter_replays_into_the_same_row() -> None:
    event = shown("u", 0)
    good = outcome_for(event).event
    bad = outcome_for(shown("u", 0, items=(_item(1), _item(2, impression_id="imp-1")))).dead_letter
    assert bad["payload_ids"] == "pseudonymised"
    replayed = raw_from_dead_letter(bad)
    stored = contract.decode(replayed.data, replayed.attributes["schema_version"])
    _, payload = stored["payload"]
    assert stored["user_id"] == good["user_id"] and stored["client"]["user_agent"] == ""
    assert [i["impression_id"] for i in payload["items"]] == ["imp-1", "imp-1"]


def _collector_rejected(item: dict) -> dict:
    raw = RawMessage(
        data=json.dumps(item).encode(),
        attributes={attr.REJECT_REASON: Reason.CONTRACT_VIOLATION, attr.REJECT_DETAIL: "items[0].slot: 'x'"},
        message_id="r-1",
        publish_time_ms=T0_MS,
    )
    return rejected_dead_letter(raw, keyring(), now_ms=T0_MS)


def _shown_item(**payload_changes) -> dict:
    payload = {
        "request_id": "req-1",
        "surface": "home",
        "experiment_ids": ["exp-a"],
        "items": [{"video_id": "vid-000001", "impression_id": "imp-1", "slot": "x", "rank": 1}],
        **payload_changes,
    }
    return json_item(event_type="ThumbnailsShown", payload=payload)


def test_a_json_thumbnails_shown_dead_letter_is_pseudonymised_not_sealed() -> None:
    row = _collector_rejected(_shown_item())
    assert row["payload_ids"] == "pseudonymised"
    stored = json.loads(base64.b64decode(row["payload"]))
    assert stored["user_id"] == pseudonym("raw-user-ann") and "user_agent" not in stored["client"]
    assert stored["payload"]["items"][0]["impression_id"] == "imp-1"
    assert stored["payload"]["experiment_ids"] == ["exp-a"]


@pytest.mark.parametrize(
    "changes",
    [
        {"items": [{"video_id": "v", "impression_id": "i", "slot": 1, "rank": 1, "viewer": "alice@example.com"}]},
        {"experiment_ids": [{"who": "alice@example.com"}]},
    ],
    ids=["unknown-item-field", "object-in-a-string-list"],
)
def test_a_json_thumbnails_shown_with_unknown_fields_in_its_lists_is_sealed(changes) -> None:
    row = _collector_rejected(_shown_item(**changes))
    assert row["payload_ids"] == "encrypted"
    assert b"alice@example.com" not in base64.b64decode(row["payload"])
