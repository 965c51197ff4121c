"""Malformed input: generated payloads through decode + validate. Every one becomes a valid
event or a dead letter with a reason; no exception escapes.

Hypothesis builds payloads of every kind a broken or hostile client can send: random bytes,
truncated Avro, wrong types (valid Avro of a different shape), huge strings, NaN and extreme
numbers, future and ancient timestamps, unknown schema versions.
"""

from __future__ import annotations

import math
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clickstream.core import contract
from emitters.events import ClientInfo, Event, ThumbnailClicked, VideoPaused
from pipelines.messages import RawMessage
from pipelines.rules.decode import Limits, decode_and_validate
from tests.support.keys import keyring

T0 = 1_767_225_600_000
LIMITS = Limits()

_text = st.text(max_size=40) | st.sampled_from(["", " ", "vid-000001", "u-1", "d-1"])
_huge_or_text = _text | st.just("x" * 50_000)  # one field may be huge (payload_too_large)
_long = st.integers(min_value=-(2**63), max_value=2**63 - 1) | st.sampled_from([0, -1, T0, T0 + 10**12, -T0])
_double = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([math.nan, math.inf, -0.0, 1e308])
_version = st.sampled_from([*contract.revisions(), "9.9", "", "1", "x.y", "2.0"])


@st.composite
def contract_shaped(draw) -> bytes:
    """Valid Avro of the contract with hostile values (the fuzzer's 'semantic' half)."""
    if draw(st.booleans()):
        payload = VideoPaused(draw(_text), draw(_long), draw(st.none() | _long), draw(st.none() | _double))
    else:
        payload = ThumbnailClicked(
            draw(_text),
            draw(_text),
            draw(_text),
            draw(st.integers(-(2**31), 2**31 - 1)),
            draw(st.integers(-(2**31), 2**31 - 1)),
            draw(st.none() | _text),
            draw(st.none() | _text),
        )
    event = Event(
        event_id=draw(st.uuids().map(str) | _text),
        user_id=draw(_text),
        device_id=draw(_text),
        client=ClientInfo(draw(_text), draw(_text), draw(_huge_or_text), draw(st.none() | _text)),
        payload=payload,
        event_ts_ms=draw(_long),
        sent_at_ms=draw(_long),
        event_type=draw(st.sampled_from(["VideoPaused", "ThumbnailClicked", "VideoSeeked", ""])),
    )
    return contract.encode(event.to_record())


@st.composite
def payloads(draw) -> RawMessage:
    kind = draw(st.sampled_from(["random", "truncated", "contract", "contract+garbage"]))
    if kind == "random":
        data = draw(st.binary(max_size=400))
    else:
        data = draw(contract_shaped())
        if kind == "truncated":
            data = data[: draw(st.integers(0, max(0, len(data) - 1)))]
        elif kind == "contract+garbage":
            data += draw(st.binary(min_size=1, max_size=20))
    attributes = {"schema_version": draw(_version)} if draw(st.booleans()) else {}
    publish = draw(st.none() | st.integers(0, 4_102_444_800_000))
    return RawMessage(data=data, attributes=attributes, message_id="m", publish_time_ms=publish)


def test_every_payload_becomes_an_event_or_a_dead_letter_with_a_reason() -> None:
    """10,000 generated payloads; then the spread of outcomes they reached is printed and checked
    (one test, so the count cannot depend on which test worker ran what, or in which order)."""
    outcomes: Counter[str] = Counter()

    @settings(max_examples=10_000, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(payloads())
    def one_outcome_each(raw: RawMessage) -> None:
        outcome = decode_and_validate(raw, LIMITS, keyring(), now_ms=T0)  # must not raise
        assert (outcome.event is None) != (outcome.dead_letter is None)
        if outcome.dead_letter is not None:
            assert outcome.dead_letter["reason"] and outcome.dead_letter["stage"] in ("decode", "validate")
            assert outcome.dead_letter["payload"] is not None
            outcomes[outcome.dead_letter["reason"]] += 1
        else:
            assert outcome.event_ts_ms is not None
            outcomes["valid"] += 1

    one_outcome_each()
    total = sum(outcomes.values())
    print(f"{total} generated payloads: " + ", ".join(f"{k}={v}" for k, v in outcomes.most_common()))
    assert total >= 10_000
    assert len(outcomes) >= 8  # the generator reaches many different reasons, not one
