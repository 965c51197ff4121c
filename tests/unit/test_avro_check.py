"""The quick contract check (``clickstream.core.avro_check``) never lets through what fastavro refuses,
and takes every event the emitters make (so the emitter's hot path skips fastavro's slow walk)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from fastavro.validation import validate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clickstream.core import avro_check, contract
from emitters.events import Consent, Exploration, ShownThumbnail, thumbnails_shown
from emitters.simulator import Simulator, TrafficProfile
from tests.support.events import CLIENT, sample_click, sample_paused


class _Text(str):
    """A str subclass: fastavro takes it as a string; the quick check leaves it to fastavro."""


# Values of every other kind, put where the schema wants something else.
_WRONG = st.sampled_from(
    [None, True, False, 0, -1, 2**31, -(2**31) - 1, 2**63, 1.5, float("nan"), "x", _Text("x"), b"x", [], (), {}]
)


def _valid(schema: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    """Data shaped by a parsed schema, whose parts are sometimes of the wrong kind or missing."""
    if isinstance(schema, str):
        return {
            "null": st.none(),
            "boolean": st.booleans(),
            "string": st.text(max_size=3),
            "int": st.integers(-(2**31), 2**31 - 1),
            "long": st.integers(-(2**63), 2**63 - 1),
            "double": st.floats() | st.integers(-10, 10),
        }[schema]
    if isinstance(schema, list):
        named = [
            st.tuples(st.sampled_from([b["name"], "io.clickstream.v1.Other"]), _valid(b, depth + 1))
            for b in schema
            if isinstance(b, dict) and b.get("type") == "record"
        ]
        return st.one_of(*[_valid(b, depth + 1) for b in schema], *named)
    if schema["type"] == "array":
        items = _value(schema["items"], depth + 1)
        return st.lists(items, max_size=3) | st.lists(items, max_size=2).map(tuple)
    fields = {f["name"]: _value(f["type"], depth + 1) for f in schema["fields"]}
    required = st.fixed_dictionaries(fields)
    some_missing = st.fixed_dictionaries({}, optional={**fields, "-type": st.sampled_from([schema["name"], "x"])})
    return st.one_of(required, required, some_missing)


def _value(schema: Any, depth: int) -> st.SearchStrategy[Any]:
    return st.one_of(_valid(schema, depth), _WRONG) if depth else _valid(schema, depth)


@pytest.mark.parametrize("version", list(contract.revisions()))
def test_the_quick_check_never_accepts_a_record_fastavro_refuses(version: str) -> None:
    parsed = contract.revision(version).parsed
    quick = avro_check.compile_check(parsed)
    assert quick is not None, f"revision {version} uses a construct the quick check does not handle"
    seen = {True: 0, False: 0}

    @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
    @given(_valid(parsed))
    def agrees(record: Any) -> None:
        accepted = quick(record)
        seen[accepted] += 1
        if accepted:
            assert validate(record, parsed, raise_errors=False), record

    agrees()
    assert seen[True] and seen[False], seen  # both answers were exercised


def test_the_quick_check_takes_every_event_the_emitters_make() -> None:
    quick = avro_check.compile_check(contract.revision(contract.current_version()).parsed)
    assert quick is not None
    simulated = Simulator(TrafficProfile(rate=500, session_gap_s=60, seed=3), start_ms=1_700_000_000_000).emissions()
    consent = Consent(analytics=True, personalization=False, policy_version="2026-05")
    row = thumbnails_shown(
        user_id="u-1",
        device_id="d-1",
        client=CLIENT,
        request_id="req-1",
        surface="home",
        items=[ShownThumbnail("v-1", "imp-1", slot=1, rank=2, row=1, col=1, visible_ms=900)],
        model_version="m-3",
        experiment_ids=["exp-a"],
        exploration=Exploration("swap_first", swapped_rank=2, propensity=0.05),
        consent=consent,
    )
    events = [e.event for e in itertools.islice(simulated, 3000)]
    events += [sample_paused(), sample_click(), sample_click(consent=consent), row]
    assert {e.event_type for e in events} == set(contract.EVENT_TYPES)
    refused = [e for e in events if not quick(e.to_record())]
    assert not refused, refused[:3]


def test_an_event_the_quick_check_refuses_still_gets_fastavro_s_answer() -> None:
    record = sample_paused().to_record()
    record["user_id"] = _Text("u-1")  # a str subclass: fastavro takes it, the quick check does not decide
    contract.validate_record(record)
    record["event_ts"] = "yesterday"
    with pytest.raises(contract.ContractError, match="event_ts"):
        contract.validate_record(record)
