"""A person who refused analytics leaves a dead letter without any payload: the ledger keeps its
reason, nothing of the event is kept (review of issue 13)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from clickstream.core import attributes as attr
from clickstream.core.reasons import Reason
from emitters.events import Consent
from pipelines.messages import RawMessage
from pipelines.rules.collect import rejected_dead_letter
from pipelines.rules.decode import Limits, decode_and_validate
from tests.support.collector_items import json_item
from tests.support.keys import keyring
from tests.support.teststream import T0_MS, message, paused

LIMITS = Limits(max_age_ms=3 * 86_400_000)


@pytest.mark.parametrize(
    ("consent", "default"),
    [(Consent(analytics=False, personalization=True), "granted"), (None, "denied")],
)
def test_a_consent_denied_event_that_fails_validation_keeps_its_payload(consent, default) -> None:
    event = replace(paused("raw-user-ann", 0, position_ms=-1), consent=consent)
    row = decode_and_validate(message(event), LIMITS, keyring(), now_ms=T0_MS, consent_default=default).dead_letter
    assert row["reason"] == Reason.NEGATIVE_POSITION
    assert (row["payload"], row["payload_ids"], row["user_id"]) == (None, "none", None)
    assert "-1" not in row["error"] and "raw-user-ann" not in json.dumps(row)


def test_a_consent_granted_event_that_fails_validation_keeps_its_pseudonymised_payload() -> None:
    event = replace(paused("raw-user-ann", 0, position_ms=-1), consent=Consent(analytics=True, personalization=False))
    row = decode_and_validate(message(event), LIMITS, keyring(), now_ms=T0_MS, consent_default="denied").dead_letter
    assert row["payload_ids"] == "pseudonymised" and row["payload"]


@pytest.mark.parametrize(
    ("consent", "default"),
    [({"analytics": False, "personalization": True}, "granted"), (None, "denied")],
)
def test_a_collector_reject_with_denied_consent_keeps_its_payload(consent, default) -> None:
    item = json_item(consent=consent) if consent else json_item()
    raw = RawMessage(
        data=json.dumps(item).encode(),
        attributes={attr.REJECT_REASON: Reason.CONTRACT_VIOLATION, attr.REJECT_DETAIL: "position_ms: -1 < 0"},
        message_id="r-1",
        publish_time_ms=T0_MS,
    )
    row = rejected_dead_letter(raw, keyring(), now_ms=T0_MS, consent_default=default)
    assert row["reason"] == Reason.CONTRACT_VIOLATION
    assert (row["payload"], row["payload_ids"], row["user_id"]) == (None, "none", None)
    assert "-1" not in row["error"]
    assert "-1" not in json.dumps(row["attributes"])
