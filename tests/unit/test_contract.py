"""The Avro contract: revisions, round trips, and the evolution policy."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace

import pytest

from clickstream.core import contract
from emitters.events import Consent, encode_event
from tests.support.events import CLIENT, sample_click, sample_paused


def test_revisions_are_discovered_in_version_order() -> None:
    versions = list(contract.revisions())
    assert versions == sorted(versions, key=lambda v: tuple(map(int, v.split("."))))
    assert versions[:3] == ["1.0", "1.1", "1.2"]
    assert contract.current_version() == versions[-1]


@pytest.mark.parametrize("make", [sample_paused, sample_click])
def test_round_trip_under_current_revision(make) -> None:
    event = make(sent_at=1_700_000_000_500, event_ts=1_700_000_000_000)
    decoded = contract.decode(encode_event(event), event.schema_version)
    assert decoded == event.to_record()
    branch, payload = decoded["payload"]
    assert branch == contract.payload_branch(event.event_type)
    assert payload["video_id"] == event.payload.video_id


def _fields(schema: dict) -> dict[str, dict]:
    return {f["name"]: f for f in schema["fields"]}


def _walk_records(schema: object, path: str = "") -> dict[str, dict]:
    """Every named record in a schema, by its path, so revisions can be compared."""
    found: dict[str, dict] = {}
    if isinstance(schema, dict) and schema.get("type") == "record":
        found[path or schema["name"]] = schema
        for field in schema["fields"]:
            found.update(_walk_records(field["type"], f"{path}.{field['name']}"))
    elif isinstance(schema, list):
        for branch in schema:
            if isinstance(branch, dict):
                found.update(_walk_records(branch, f"{path}|{branch.get('name')}"))
    return found


def test_evolution_policy_later_revisions_only_add_optional_fields() -> None:
    """Within a major: no field removed or retyped; every added field is nullable with default null."""
    revs = list(contract.revisions().values())
    for older, newer in itertools.pairwise(revs):
        if older.major != newer.major:
            continue
        old_records = _walk_records(json.loads(older.definition))
        new_records = _walk_records(json.loads(newer.definition))
        assert set(old_records) <= set(new_records), f"{newer.version} removed a record"
        for path, old in old_records.items():
            old_fields, new_fields = _fields(old), _fields(new_records[path])
            for name, field in old_fields.items():
                assert name in new_fields, f"{newer.version} removed {path}.{name}"
                if isinstance(field["type"], str):
                    assert new_fields[name]["type"] == field["type"], f"{path}.{name} changed type"
            for name in set(new_fields) - set(old_fields):
                added = new_fields[name]
                assert isinstance(added["type"], list) and added["type"][0] == "null", (
                    f"{newer.version} added {path}.{name} without a null-first union"
                )
                assert "default" in added and added["default"] is None


@pytest.mark.parametrize("make", [sample_paused, sample_click])
def test_events_written_under_previous_revision_decode_under_current(make) -> None:
    versions = list(contract.revisions())
    previous = versions[-2]
    event = make(event_ts=1_700_000_000_000, sent_at=1_700_000_000_100)
    record = event.to_record()
    # What an old client would have written: no fields of the newer revision.
    record["schema_version"] = previous
    record["client"].pop("locale")
    branch, payload = record["payload"]
    payload.pop("thumbnail_variant", None)
    old_bytes = contract.encode(record, previous)

    decoded = contract.decode(old_bytes, previous)
    assert decoded["event_id"] == event.event_id
    assert decoded["schema_version"] == previous
    assert decoded["client"]["locale"] is None  # filled from the reader's default
    assert decoded["payload"][0] == branch
    if branch.endswith("ThumbnailClicked"):
        assert decoded["payload"][1]["thumbnail_variant"] is None


def _as_written_by(record: dict, version: str) -> dict:
    """What a client of ``version`` writes: the record with only the fields that revision names."""
    schema = json.loads(contract.revision(version).definition)
    fields = _fields(schema)
    written = {name: value for name, value in record.items() if name in fields}
    written["schema_version"] = version
    written["client"] = {k: v for k, v in record["client"].items() if k in _fields(fields["client"]["type"])}
    branch, payload = record["payload"]
    branches = {f"{contract.NAMESPACE}.{b['name']}": _fields(b) for b in fields["payload"]["type"]}
    written["payload"] = (branch, {k: v for k, v in payload.items() if k in branches[branch]})
    return written


@pytest.mark.parametrize("version", ["1.0", "1.1"])
@pytest.mark.parametrize("make", [sample_paused, sample_click])
def test_bytes_of_every_earlier_revision_still_decode_with_no_consent(make, version) -> None:
    """1.0 and 1.1 clients keep working after 1.2: their bytes decode under the newest reader,
    and the consent they could not send comes back as null (the pipeline's consent_default decides)."""
    event = make(event_ts=1_700_000_000_000, sent_at=1_700_000_000_100, client=replace(CLIENT, locale="de-DE"))
    old_bytes = contract.encode(_as_written_by(event.to_record(), version), version)

    decoded = contract.decode(old_bytes, version)
    assert decoded["event_id"] == event.event_id
    assert decoded["schema_version"] == version
    assert decoded["consent"] is None
    assert decoded["client"]["locale"] == (None if version == "1.0" else "de-DE")


@pytest.mark.parametrize(
    "consent",
    [None, Consent(analytics=True, personalization=False, policy_version="2026-05"), Consent(False, False)],
    ids=["no-consent", "personalization-denied", "all-denied-no-policy"],
)
@pytest.mark.parametrize("make", [sample_paused, sample_click])
def test_a_1_2_event_round_trips_with_and_without_consent(make, consent) -> None:
    event = make(event_ts=1_700_000_000_000, sent_at=1_700_000_000_100, consent=consent)
    assert event.schema_version == "1.2"
    decoded = contract.decode(encode_event(event), "1.2")
    assert decoded == event.to_record()
    assert decoded["consent"] == (None if consent is None else consent.to_record())


def test_a_consent_that_is_not_the_contract_s_record_is_refused() -> None:
    record = sample_paused().to_record()
    record["consent"] = {"analytics": "yes", "personalization": True, "policy_version": None}
    with pytest.raises(contract.ContractError, match="consent"):
        contract.validate_record(record)


def test_unknown_schema_version_is_a_clear_error() -> None:
    with pytest.raises(contract.UnknownSchemaVersion, match=r"unknown schema_version '9\.9'"):
        contract.decode(b"\x00", "9.9")


def test_validation_names_the_offending_field() -> None:
    record = sample_paused().to_record()
    record["event_ts"] = "yesterday"
    with pytest.raises(contract.ContractError, match="event_ts"):
        contract.validate_record(record)


def test_encode_event_rejects_non_uuid_ids_and_type_mismatch() -> None:
    with pytest.raises(contract.ContractError, match="not a UUID"):
        encode_event(sample_paused(event_id="123"))
    mismatched = sample_paused()
    object.__setattr__(mismatched, "event_type", "ThumbnailClicked")
    with pytest.raises(contract.ContractError, match="does not match payload"):
        encode_event(mismatched)
    unknown = sample_paused()
    object.__setattr__(unknown, "event_type", "VideoSeeked")
    with pytest.raises(contract.ContractError, match="unknown event_type"):
        encode_event(unknown)


def test_binary_encoding_is_compact() -> None:
    event = sample_click(recommendation_request_id="a3f1c2d4-0000-4000-8000-000000000000")
    avro = len(encode_event(event))
    as_json = len(json.dumps(event.to_record()))
    print(f"ThumbnailClicked: Avro BINARY {avro} bytes vs JSON {as_json} bytes")
    assert avro < as_json * 0.7
