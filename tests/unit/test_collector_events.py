"""The collector's JSON item -> contract record conversion, and the envelope rules it shares with the emitters."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from clickstream.core import attributes, contract
from clickstream.core.reasons import Reason
from collector.events import Accepted, Rejected, convert
from emitters.events import encode_event
from tests.support.events import sample_paused

RECEIVED_AT = 1_760_000_000_000


def _paused_item(**overrides: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "event_type": "VideoPaused",
        "event_ts": RECEIVED_AT - 5_000,
        "sent_at": RECEIVED_AT - 1_000,
        "user_id": "u-1",
        "device_id": "d-1",
        "client": {"platform": "web", "app_version": "1.0.0", "user_agent": "UA/1", "locale": "de-CH"},
        "payload": {"video_id": "vid-1", "position_ms": 61_000, "video_duration_ms": 300_000, "playback_rate": 1.5},
    }
    item.update(overrides)
    return item


def _click_item(**overrides: Any) -> dict[str, Any]:
    item = _paused_item(
        event_type="ThumbnailClicked",
        payload={"video_id": "vid-2", "impression_id": "imp-1", "surface": "home", "slot": 2, "rank": 5},
    )
    item.update(overrides)
    return item


def _convert(item: Any, user_agent: str | None = "Header-UA/2") -> Accepted | Rejected:
    return convert(item, received_at_ms=RECEIVED_AT, user_agent=user_agent)


def test_a_full_video_paused_item_becomes_the_avro_record_the_emitter_would_write() -> None:
    item = _paused_item()
    result = _convert(item)
    assert isinstance(result, Accepted)
    decoded = contract.decode(result.data, contract.current_version())
    assert decoded["event_id"] == item["event_id"]
    assert decoded["payload"] == ("io.clickstream.v1.VideoPaused", item["payload"])
    assert decoded["client"] == item["client"]
    assert decoded["sent_at"] == item["sent_at"]
    assert result.attributes == attributes.contract_attributes(decoded)
    assert result.event_id_generated is False


def test_optional_fields_default_like_the_contract() -> None:
    item = _click_item()
    del item["event_id"], item["sent_at"]
    item["client"] = {"platform": "web", "app_version": "1.0.0"}
    result = _convert(item)
    assert isinstance(result, Accepted)
    decoded = contract.decode(result.data, contract.current_version())
    assert result.event_id_generated is True and contract.is_uuid(decoded["event_id"])
    assert decoded["schema_version"] == contract.current_version()
    assert decoded["sent_at"] == RECEIVED_AT  # no client send time: no skew correction
    assert decoded["client"]["user_agent"] == "Header-UA/2"  # filled in from the request
    assert decoded["client"]["locale"] is None
    assert decoded["payload"][1]["thumbnail_variant"] is None


def test_an_item_written_under_the_previous_revision_is_encoded_under_it() -> None:
    previous = list(contract.revisions())[-2]
    item = _paused_item(schema_version=previous)
    item["client"].pop("locale")
    result = _convert(item)
    assert isinstance(result, Accepted)
    assert result.attributes["schema_version"] == previous
    assert contract.decode(result.data, previous)["event_id"] == item["event_id"]


def test_an_integer_playback_rate_is_a_double() -> None:
    item = _paused_item()
    item["payload"]["playback_rate"] = 2
    result = _convert(item)
    assert isinstance(result, Accepted)
    assert contract.decode(result.data, contract.current_version())["payload"][1]["playback_rate"] == 2.0


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ([1, 2], Reason.NOT_AN_EVENT),
        ("VideoPaused", Reason.NOT_AN_EVENT),
        (_paused_item(event_id="not-a-uuid"), Reason.INVALID_EVENT_ID),
        (_paused_item(event_id=42), Reason.INVALID_EVENT_ID),
        (_paused_item(event_type="VideoPlayed"), Reason.UNKNOWN_EVENT_TYPE),
        (_paused_item(event_type=None), Reason.UNKNOWN_EVENT_TYPE),
        (_paused_item(event_type="ThumbnailClicked"), Reason.EVENT_TYPE_MISMATCH),
        (_click_item(event_type="VideoPaused"), Reason.EVENT_TYPE_MISMATCH),
        (_paused_item(schema_version="9.9"), Reason.UNKNOWN_SCHEMA_VERSION),
        (_paused_item(event_ts="yesterday"), Reason.CONTRACT_VIOLATION),
        (_paused_item(event_ts=1.5e12), Reason.CONTRACT_VIOLATION),
        (_paused_item(event_ts=True), Reason.CONTRACT_VIOLATION),
        (_paused_item(user_id=None), Reason.CONTRACT_VIOLATION),
        (_paused_item(payload="vid-1"), Reason.CONTRACT_VIOLATION),
        (_paused_item(client=None), Reason.CONTRACT_VIOLATION),
        (_paused_item(payload={"video_id": "v", "position_ms": 1, "positionMs": 2}), Reason.CONTRACT_VIOLATION),
        (_paused_item(userId="u-2"), Reason.CONTRACT_VIOLATION),
        (_paused_item(payload={"video_id": "v"}), Reason.CONTRACT_VIOLATION),
    ],
    ids=lambda value: value.value if isinstance(value, Reason) else type(value).__name__,
)
def test_an_item_that_does_not_fit_the_contract_is_rejected_with_its_reason(item: Any, reason: Reason) -> None:
    result = _convert(item)
    assert isinstance(result, Rejected), result
    assert result.reason == reason
    assert result.detail and len(result.detail.encode()) <= 1024
    # The rejected topic carries the item itself, as JSON.
    assert json.loads(result.data) == item


def test_a_rejected_item_keeps_its_string_event_id_for_the_dead_letter() -> None:
    item = _paused_item(event_type="Nope")
    result = _convert(item)
    assert isinstance(result, Rejected) and result.event_id == item["event_id"]
    assert isinstance(_convert(_paused_item(event_id=7)), Rejected)
    assert _convert(_paused_item(event_id=7)).event_id is None  # type: ignore[union-attr]


def test_a_long_detail_is_cut_to_the_attribute_limit() -> None:
    result = _convert(_paused_item(user_id="x" * 5000))
    assert isinstance(result, Accepted)
    result = _convert(_paused_item(event_type="é" * 2000))
    assert isinstance(result, Rejected) and len(result.detail.encode()) <= 1024


def test_envelope_rules_live_in_the_contract_and_the_emitter_uses_them() -> None:
    with pytest.raises(contract.EnvelopeError) as caught:
        contract.check_envelope("nope", "VideoPaused", "VideoPaused")
    assert caught.value.reason == Reason.INVALID_EVENT_ID
    with pytest.raises(contract.EnvelopeError) as caught:
        contract.check_envelope(str(uuid.uuid4()), "VideoPaused", "ThumbnailClicked")
    assert caught.value.reason == Reason.EVENT_TYPE_MISMATCH
    with pytest.raises(contract.EnvelopeError) as caught:
        encode_event(sample_paused(event_id="nope"))
    assert caught.value.reason == Reason.INVALID_EVENT_ID


@pytest.mark.parametrize("event_id", ["x" * 5000, "not-a-uuid", "é" * 600])
def test_a_rejected_items_event_id_is_kept_only_when_it_is_a_uuid(event_id: str) -> None:
    # Pub/Sub refuses attribute values over 1024 bytes, and the batching client sends other
    # requests' messages in the same call: one oversize id would fail them all.
    result = _convert(_paused_item(event_id=event_id))
    assert isinstance(result, Rejected) and result.reason == Reason.INVALID_EVENT_ID
    assert result.event_id is None
    assert json.loads(result.data)["event_id"] == event_id  # the item itself still travels whole


@pytest.mark.parametrize(
    "consent",
    [
        {"analytics": False, "personalization": True, "policy_version": "2026-05"},
        {"analytics": True, "personalization": False, "policy_version": None},
    ],
)
def test_a_consent_object_is_encoded_into_the_avro_record(consent: dict[str, Any]) -> None:
    result = _convert(_paused_item(consent=consent))
    assert isinstance(result, Accepted), result
    assert contract.decode(result.data, result.attributes["schema_version"])["consent"] == consent


def test_a_consent_without_policy_version_gets_null_and_no_consent_stays_null() -> None:
    result = _convert(_click_item(consent={"analytics": True, "personalization": True}))
    assert isinstance(result, Accepted), result
    assert contract.decode(result.data, result.attributes["schema_version"])["consent"] == {
        "analytics": True,
        "personalization": True,
        "policy_version": None,
    }
    result = _convert(_click_item())
    assert isinstance(result, Accepted), result
    assert contract.decode(result.data, result.attributes["schema_version"])["consent"] is None


@pytest.mark.parametrize(
    ("consent", "detail"),
    [
        ("granted", "consent must be an object"),
        ([True, True], "consent must be an object"),
        ({"personalization": True}, "consent.analytics is required"),
        ({"analytics": 1, "personalization": True}, "consent.analytics must be true or false"),
        ({"analytics": True, "personalization": "false"}, "consent.personalization must be true or false"),
        ({"analytics": True, "personalization": True, "policy_version": 2026}, "consent.policy_version"),
        ({"analytics": True, "personalization": True, "marketing": False}, "unknown consent fields ['marketing']"),
    ],
)
def test_a_malformed_consent_is_a_contract_violation(consent: Any, detail: str) -> None:
    item = _paused_item(consent=consent)
    result = _convert(item)
    assert isinstance(result, Rejected), result
    assert result.reason is Reason.CONTRACT_VIOLATION
    assert detail in result.detail
    assert json.loads(result.data) == item  # the rejected topic gets the item as sent


def test_consent_under_a_revision_before_1_2_is_an_unknown_field() -> None:
    result = _convert(_paused_item(schema_version="1.1", consent={"analytics": True, "personalization": True}))
    assert isinstance(result, Rejected) and result.reason is Reason.CONTRACT_VIOLATION
    assert "unknown fields ['consent']" in result.detail


def _shown_item(**overrides: Any) -> dict[str, Any]:
    """A ThumbnailsShown (contract 1.3) as a client sends it: only the required fields of each item."""
    item = _paused_item(
        event_type="ThumbnailsShown",
        payload={
            "request_id": "req-1",
            "surface": "home",
            "items": [
                {"video_id": f"vid-{slot}", "impression_id": f"imp-{slot}", "slot": slot, "rank": slot}
                for slot in (1, 2, 3)
            ],
        },
    )
    item.update(overrides)
    return item


def test_a_thumbnails_shown_item_is_encoded_under_1_3_with_the_optional_fields_defaulted() -> None:
    item = _shown_item()
    result = _convert(item)
    assert isinstance(result, Accepted), result
    assert result.attributes["schema_version"] == "1.3"
    assert result.attributes["event_type"] == "ThumbnailsShown"
    branch, payload = contract.decode(result.data, "1.3")["payload"]
    assert branch == "io.clickstream.v1.ThumbnailsShown"
    assert payload["model_version"] is None and payload["exploration"] is None
    assert payload["experiment_ids"] == []  # the contract's default, not null
    assert payload["items"][2] == {
        "video_id": "vid-3",
        "impression_id": "imp-3",
        "slot": 3,
        "rank": 3,
        "row": None,
        "col": None,
        "visible_ms": None,
    }


def test_a_full_thumbnails_shown_item_is_the_record_the_emitter_would_write() -> None:
    payload = {
        "request_id": "req-2",
        "surface": "up_next",
        "model_version": "ranker-7",
        "experiment_ids": ["exp-a", "exp-b"],
        "exploration": {"method": "swap_first", "swapped_rank": 4, "propensity": 0.0125},
        "items": [
            {"video_id": "v-9", "impression_id": "imp-9", "slot": 1, "rank": 4, "row": 1, "col": 1, "visible_ms": 900},
            {"video_id": "v-1", "impression_id": "imp-1", "slot": 4, "rank": 1, "row": 2, "col": 2, "visible_ms": 0},
        ],
    }
    result = _convert(_shown_item(payload=payload))
    assert isinstance(result, Accepted), result
    assert contract.decode(result.data, "1.3")["payload"] == ("io.clickstream.v1.ThumbnailsShown", payload)


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        (lambda p: p["items"][1].update(videoId="x"), "items[1]: unknown fields ['videoId']"),
        (lambda p: p["items"][2].pop("impression_id"), "items[2]: missing ['impression_id']"),
        (lambda p: p["items"][0].update(slot="1"), "items[0].slot must be an int"),
        (lambda p: p["items"][0].update(rank=True), "items[0].rank must be an int"),
        (lambda p: p["items"][0].update(rank=1.5), "items[0].rank must be an int"),
        (lambda p: p["items"][1].update(visible_ms="long"), "items[1].visible_ms must be an int"),
        (lambda p: p["items"].append("vid-4"), "items[3] must be an object"),
        (lambda p: p.update(items={"video_id": "v"}), "items must be a list"),
        (lambda p: p.update(experiment_ids="exp-a"), "experiment_ids must be a list"),
        (lambda p: p.update(experiment_ids=[7]), "experiment_ids[0] must be a string"),
        (lambda p: p.update(exploration={"method": "swap_first", "swapped_rank": 2}), "exploration: missing"),
        (lambda p: p.update(exploration="swap_first"), "exploration must be an object"),
        (lambda p: p.pop("items"), "ThumbnailsShown payload: missing ['items']"),
    ],
)
def test_a_malformed_thumbnails_shown_is_a_contract_violation_that_names_the_item(change: Any, detail: str) -> None:
    item = _shown_item()
    change(item["payload"])
    result = _convert(item)
    assert isinstance(result, Rejected), result
    assert result.reason is Reason.CONTRACT_VIOLATION
    assert detail in result.detail, result.detail
    assert json.loads(result.data) == item  # the rejected topic gets the item as sent: nothing is lost


def test_thumbnails_shown_under_a_revision_before_1_3_is_an_unknown_event_type() -> None:
    result = _convert(_shown_item(schema_version="1.2"))  # raised KeyError: convert must never raise
    assert isinstance(result, Rejected) and result.reason is Reason.UNKNOWN_EVENT_TYPE
    assert "ThumbnailsShown" in result.detail and "1.2" in result.detail
