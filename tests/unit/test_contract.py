"""The Avro contract: revisions, round trips, and the evolution policy."""

from __future__ import annotations

import io
import itertools
import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import fastavro
import pytest

from clickstream.core import contract
from clickstream.core.paths import REPO_ROOT, schemas_dir
from emitters.events import Consent, Event, Exploration, ShownThumbnail, encode_event, thumbnails_shown
from tests.support.events import CLIENT, sample_click, sample_paused


def sample_shown(grid: bool = False, exploration: Exploration | None = None, **overrides: object) -> Event:
    """A ThumbnailsShown row of three (contract 1.3); ``grid`` adds row/col/visible_ms to every item."""
    items = tuple(
        ShownThumbnail(
            video_id=f"vid-{slot:06d}",
            impression_id=f"imp-{slot}",
            slot=slot,
            rank=slot,
            **({"row": 1 + (slot - 1) // 2, "col": 1 + (slot - 1) % 2, "visible_ms": 800 * slot} if grid else {}),
        )
        for slot in (1, 2, 3)
    )
    fields: dict[str, object] = dict(
        user_id="u-test", device_id="d-test", client=CLIENT, request_id="req-1", surface="home", items=items
    )
    fields.update(overrides)
    return thumbnails_shown(exploration=exploration, **fields)  # type: ignore[arg-type]


def test_revisions_are_discovered_in_version_order() -> None:
    versions = list(contract.revisions())
    assert versions == sorted(versions, key=lambda v: tuple(map(int, v.split("."))))
    assert versions[:4] == ["1.0", "1.1", "1.2", "1.3"]
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


def _union_names(kind: object) -> list[str] | None:
    """A union's branches by name (records by their name, primitives as themselves); None if not a union."""
    if not isinstance(kind, list):
        return None
    return [b["name"] if isinstance(b, dict) and "name" in b else json.dumps(b, sort_keys=True) for b in kind]


def _policy_violations(older: dict, newer: dict) -> list[str]:
    """What ``newer`` does that the evolution policy forbids within a major (docs/contract.md):
    a record or field removed or retyped, an added field that is not null-first with default
    null, or a union changed other than the payload union growing by appending branches at its
    END (a branch's position is its index on the wire, so an earlier branch must keep it)."""
    found: list[str] = []
    old_records, new_records = _walk_records(older), _walk_records(newer)
    for path in sorted(set(old_records) - set(new_records)):
        found.append(f"removed record {path}")
    for path, old in old_records.items():
        if path not in new_records:
            continue
        old_fields, new_fields = _fields(old), _fields(new_records[path])
        for name, field in old_fields.items():
            if name not in new_fields:
                found.append(f"removed {path}.{name}")
                continue
            old_type, new_type = field["type"], new_fields[name]["type"]
            if isinstance(old_type, str) and new_type != old_type:
                found.append(f"{path}.{name} changed type")
            old_union, new_union = _union_names(old_type), _union_names(new_type)
            if old_union is None or old_union == new_union:
                continue
            if path != newer["name"] or name != "payload":
                found.append(f"{path}.{name}: only the payload union may gain branches")
            elif new_union is None or new_union[: len(old_union)] != old_union:
                found.append(f"{path}.{name}: branches {old_union} must keep their order, new ones appended")
        for name in sorted(set(new_fields) - set(old_fields)):
            added = new_fields[name]
            if not (isinstance(added["type"], list) and added["type"][0] == "null"):
                found.append(f"added {path}.{name} without a null-first union")
            elif "default" not in added or added["default"] is not None:
                found.append(f"added {path}.{name} without default null")
    return found


def _same_major_pairs() -> list[tuple[contract.Revision, contract.Revision]]:
    revs = list(contract.revisions().values())
    return [(older, newer) for older, newer in itertools.pairwise(revs) if older.major == newer.major]


def test_evolution_policy_later_revisions_only_add_optional_fields_and_append_payload_branches() -> None:
    """Within a major: no field removed or retyped; every added field is nullable with default null;
    the payload union only grows at its end. Checked on every pair of consecutive revisions."""
    pairs = _same_major_pairs()
    assert [(a.version, b.version) for a, b in pairs][:3] == [("1.0", "1.1"), ("1.1", "1.2"), ("1.2", "1.3")]
    for older, newer in pairs:
        violations = _policy_violations(json.loads(older.definition), json.loads(newer.definition))
        assert violations == [], f"{older.version} -> {newer.version}: {violations}"
    branches = contract._payload_types
    grown = [(a.version, b.version) for a, b in pairs if branches(a.parsed) != branches(b.parsed)]
    assert ("1.2", "1.3") in grown  # 1.3 appended ThumbnailsShown


def _payload_field(schema: dict) -> dict:
    return next(f for f in schema["fields"] if f["name"] == "payload")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("insert_first", "must keep their order"),
        ("replace_branch", "must keep their order"),
        ("required_field", "without a null-first union"),
        ("default_not_null", "without default null"),
        ("grow_client_union", "only the payload union"),
    ],
)
def test_the_policy_check_refuses_what_the_policy_forbids(change: str, expected: str) -> None:
    """The mechanical check must be able to fail: a 1.3 that inserted its branch before the others
    (every older ThumbnailClicked would decode as something else) or added a required field."""
    older = json.loads(contract.revision("1.2").definition)
    newer = json.loads(contract.revision("1.3").definition)
    union = _payload_field(newer)["type"]
    if change == "insert_first":
        union.insert(0, union.pop())
    elif change == "replace_branch":
        del union[1]
    elif change == "required_field":
        newer["fields"].append({"name": "tenant", "type": "string"})
    elif change == "default_not_null":
        newer["fields"].append({"name": "tenant", "type": ["null", "string"], "default": "x"})
    elif change == "grow_client_union":
        consent = next(f for f in newer["fields"] if f["name"] == "consent")
        consent["type"].append("string")
    assert any(expected in v for v in _policy_violations(older, newer)), _policy_violations(older, newer)


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


@pytest.mark.parametrize("version", ["1.0", "1.1", "1.2"])
@pytest.mark.parametrize("make", [sample_paused, sample_click])
def test_bytes_of_every_earlier_revision_still_decode_with_no_consent(make, version) -> None:
    """1.0, 1.1 and 1.2 clients keep working after 1.3: their bytes decode under the newest reader,
    and the consent they did not send comes back as null (the pipeline's consent_default decides)."""
    assert version in contract.revisions() and version != contract.current_version()
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
    event = replace(event, schema_version="1.2")  # what a 1.2 client writes (1.2 is no longer the newest)
    decoded = contract.decode(encode_event(event), "1.2")
    assert decoded == event.to_record()
    assert decoded["consent"] == (None if consent is None else consent.to_record())


@pytest.mark.parametrize(
    "exploration", [None, Exploration("swap_first", swapped_rank=3, propensity=0.05)], ids=["ranked", "explored"]
)
@pytest.mark.parametrize("grid", [False, True], ids=["row", "grid"])
def test_a_thumbnails_shown_round_trips_with_and_without_exploration_and_grid_fields(grid, exploration) -> None:
    event = sample_shown(
        grid=grid,
        exploration=exploration,
        model_version="ranker-7" if exploration else None,
        experiment_ids=("exp-a", "exp-b") if exploration else (),
        event_ts=1_700_000_000_000,
        sent_at=1_700_000_000_100,
    )
    assert event.schema_version == "1.3" and event.event_type == "ThumbnailsShown"
    decoded = contract.decode(encode_event(event), "1.3")
    assert decoded == event.to_record()
    branch, payload = decoded["payload"]
    assert branch == "io.clickstream.v1.ThumbnailsShown"
    assert payload["exploration"] == (exploration.to_record() if exploration else None)
    assert [item["impression_id"] for item in payload["items"]] == ["imp-1", "imp-2", "imp-3"]
    for item in payload["items"]:
        assert (item["row"] is not None) is grid and (item["visible_ms"] is not None) is grid


def test_an_older_reader_cannot_read_the_new_branch_so_consumers_deploy_first(tmp_path: Path) -> None:
    """Why readers must know 1.3 before writers send ThumbnailsShown: a reader of 1.2 has no branch
    for it. A pipeline deployed with schemas up to 1.2 does not know revision 1.3 at all, so every
    1.3 message is refused as an unknown schema_version (the pipeline dead-letters it as
    unknown_schema_version); after the upgrade the same bytes decode, so replaying them loses nothing."""
    data = encode_event(sample_shown())

    # Resolution against the 1.2 reader schema: the writer's branch 2 has no counterpart.
    with pytest.raises(Exception, match="ThumbnailsShown"):
        fastavro.schemaless_reader(io.BytesIO(data), contract.revision("1.3").parsed, contract.revision("1.2").parsed)
    # Bytes a writer mislabelled as 1.2: branch index 2 does not exist there.
    with pytest.raises(Exception):  # noqa: B017 - fastavro raises IndexError or its own error here
        contract.decode(data, "1.2")

    # An older deployment: the same code with the schemas of before 1.3.
    older = tmp_path / "schemas"
    shutil.copytree(schemas_dir(), older)
    (older / "avro" / "clickstream_event.v1.3.avsc").unlink()
    probe = (
        "import sys\n"
        "from clickstream.core import contract\n"
        "try:\n"
        "    contract.decode(sys.stdin.buffer.read(), '1.3')\n"
        "except contract.UnknownSchemaVersion as exc:\n"
        "    print('UnknownSchemaVersion:', exc)\n"
    )
    env = {**os.environ, "CLICKSTREAM_SCHEMAS_DIR": str(older), "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", probe], input=data, capture_output=True, env=env, cwd=REPO_ROOT, timeout=120
    )
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode().startswith("UnknownSchemaVersion: unknown schema_version '1.3'; known: 1.0, 1.1, 1.2")

    # After the upgrade (this code, which knows 1.3) the dead-lettered bytes decode: replay works.
    assert contract.decode(data, "1.3")["payload"][0] == "io.clickstream.v1.ThumbnailsShown"


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
