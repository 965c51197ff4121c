"""What a pseudonymised dead letter keeps of a person: no raw User-Agent, and no id field the
contract does not know (such a payload is sealed instead) (review of issue 13)."""

from __future__ import annotations

import base64
import json
from dataclasses import replace

import pytest

from clickstream.core import attributes as attr
from clickstream.core import contract
from clickstream.core.reasons import Reason
from pipelines.messages import RawMessage
from pipelines.rules.collect import rejected_dead_letter
from pipelines.rules.decode import Limits, decode_and_validate
from tests.support.collector_items import UA, json_item
from tests.support.keys import keyring, pseudonym
from tests.support.teststream import T0_MS, message, paused

LIMITS = Limits(max_age_ms=3 * 86_400_000)


def _rejected(item: dict) -> dict:
    raw = RawMessage(
        data=json.dumps(item).encode(),
        attributes={attr.REJECT_REASON: Reason.CONTRACT_VIOLATION, attr.REJECT_DETAIL: "position_ms: -1"},
        message_id="r-1",
        publish_time_ms=T0_MS,
    )
    return rejected_dead_letter(raw, keyring(), now_ms=T0_MS)


def _payload(row: dict) -> bytes:
    return base64.b64decode(row["payload"])


def test_a_pseudonymised_avro_dead_letter_still_holds_the_raw_user_agent() -> None:
    raw = message(paused("raw-user-ann", 0, position_ms=-1))
    row = decode_and_validate(raw, LIMITS, keyring(), now_ms=T0_MS).dead_letter
    assert row["payload_ids"] == "pseudonymised"
    assert UA.encode() not in _payload(row)
    record = contract.decode(_payload(row), raw.attributes["schema_version"])
    assert record["client"]["user_agent"] == ""


def test_a_truncated_avro_dead_letter_still_holds_the_raw_user_agent() -> None:
    raw = message(paused("raw-user-ann", 0))
    cut = replace(raw, data=raw.data[:-6])  # cut in the payload: the client record is whole
    row = decode_and_validate(cut, LIMITS, keyring(), now_ms=T0_MS).dead_letter
    assert row["payload_ids"] == "pseudonymised" and row["user_id"]
    assert UA.encode() not in _payload(row) and b"raw-user-ann" not in _payload(row)


def test_an_avro_dead_letter_cut_inside_the_user_agent_still_holds_part_of_it() -> None:
    raw = message(paused("raw-user-ann", 0))
    cut = replace(raw, data=raw.data[: raw.data.index(UA.encode()) + 20])
    row = decode_and_validate(cut, LIMITS, keyring(), now_ms=T0_MS).dead_letter
    assert UA.encode()[:20] not in _payload(row) and b"raw-user-ann" not in _payload(row)
    assert row["user_id"]  # still findable by erasure


def test_a_pseudonymised_json_dead_letter_still_holds_the_raw_user_agent() -> None:
    row = _rejected(json_item())
    assert row["payload_ids"] == "pseudonymised"
    stored = json.loads(_payload(row))
    assert UA not in json.dumps(stored)
    assert stored["client"].get("user_agent") in (None, "")


@pytest.mark.parametrize(
    "item",
    [
        json_item(userId="alice@example.com"),
        json_item(client={"platform": "web", "app_version": "1", "user_agent": "x", "uid": "alice@example.com"}),
        json_item(payload={"video_id": "v", "position_ms": -1, "user_email": "alice@example.com"}),
        json_item(consent={"analytics": True, "personalization": True, "who": "alice@example.com"}),
        json_item(video_id={"owner": "alice@example.com"}),
        [json_item()],
    ],
    ids=["top", "client", "payload", "consent", "object-in-a-scalar", "not-an-object"],
)
def test_a_json_dead_letter_with_unknown_id_fields_keeps_them_verbatim(item) -> None:
    row = _rejected(item) if isinstance(item, dict) else _rejected({"events": item})
    assert row["payload_ids"] == "encrypted"
    assert b"alice@example.com" not in _payload(row) and b"raw-user-ann" not in _payload(row)


def test_a_sealed_json_dead_letter_is_not_found_by_erasure_and_its_detail_quotes_the_raw_id() -> None:
    item = json_item(userId="alice@example.com")
    raw = RawMessage(
        data=json.dumps(item).encode(),
        attributes={attr.REJECT_REASON: Reason.CONTRACT_VIOLATION, attr.REJECT_DETAIL: "user raw-user-ann: unknown"},
        message_id="r-1",
        publish_time_ms=T0_MS,
    )
    row = rejected_dead_letter(raw, keyring(), now_ms=T0_MS)
    assert row["payload_ids"] == "encrypted"
    assert row["user_id"] == pseudonym("raw-user-ann")  # erasure finds the row by it
    assert "raw-user-ann" not in json.dumps(row)
