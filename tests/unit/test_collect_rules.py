"""Events the HTTP collector refused: each rejected-topic message is one ``collect`` dead letter."""

from __future__ import annotations

import base64
import json

from clickstream.core import attributes as attr
from clickstream.core.reasons import Reason, Stage
from pipelines.messages import RawMessage
from pipelines.rules.collect import rejected_dead_letter
from tests.support.keys import keyring, pseudonym
from tests.support.teststream import T0_MS

BODY = b'{"event_type": "VideoPaused", "user_id": 7}'


def rejected(**attributes: str) -> RawMessage:
    return RawMessage(data=BODY, attributes=attributes, message_id="r-1", publish_time_ms=T0_MS)


def test_a_rejected_message_is_a_collect_dead_letter_with_the_collectors_reason_and_detail() -> None:
    raw = rejected(
        **{
            attr.REJECT_REASON: Reason.CONTRACT_VIOLATION,
            attr.REJECT_DETAIL: "user_id: 7 is not a string",
            attr.EVENT_ID: "0b7c6a4e-4f0e-4c3a-9a57-1f4e2f8f7d11",
        }
    )
    row = rejected_dead_letter(raw, keyring(), now_ms=T0_MS + 5)
    # The raw id (7) is stored only as its pseudonym: in the payload, the error and the detail.
    detail = f"user_id: {pseudonym('7')} is not a string"
    assert (row["stage"], row["reason"], row["error"]) == (Stage.COLLECT, Reason.CONTRACT_VIOLATION, detail)
    assert row["event_id"] == "0b7c6a4e-4f0e-4c3a-9a57-1f4e2f8f7d11"
    assert json.loads(base64.b64decode(row["payload"])) == {"event_type": "VideoPaused", "user_id": pseudonym("7")}
    assert (row["payload_ids"], row["user_id"]) == ("pseudonymised", pseudonym("7"))
    assert row["message_id"] == "r-1" and row["publish_time"] == "2026-01-01T00:00:00.000Z"
    assert {a["key"]: a["value"] for a in row["attributes"]} == {**raw.attributes, attr.REJECT_DETAIL: detail}


def test_a_rejected_message_with_an_unknown_reason_keeps_it_readable_in_the_error() -> None:
    row = rejected_dead_letter(rejected(**{attr.REJECT_REASON: "gremlins", attr.REJECT_DETAIL: "it bit"}), keyring())
    assert (row["stage"], row["reason"]) == (Stage.COLLECT, Reason.INVALID_VALUE)
    assert "gremlins" in row["error"] and "it bit" in row["error"]


def test_a_rejected_message_without_reason_or_event_id_is_still_one_dead_letter() -> None:
    row = rejected_dead_letter(rejected(), keyring())
    assert (row["stage"], row["reason"], row["event_id"]) == (Stage.COLLECT, Reason.INVALID_VALUE, None)
    assert attr.REJECT_REASON in row["error"]
