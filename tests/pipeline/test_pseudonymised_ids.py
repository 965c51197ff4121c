"""No raw user_id or device_id leaves DecodeAndValidate: events, sessions, duplicates and dead
letters (columns, error text, attributes and payload) carry pseudonyms, or a sealed payload."""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
from dataclasses import replace
from typing import Any

import apache_beam as beam
import pytest
from apache_beam.testing.util import BeamAssertException, assert_that, equal_to

from clickstream.core import attributes as attr
from clickstream.core import contract
from clickstream.core.reasons import Reason
from clickstream.core.sealing import open_sealed
from pipelines.graph import process
from pipelines.messages import RawMessage
from tests.support.keys import keyring, pseudonym
from tests.support.teststream import CATALOG, T0_MS, at, message, new_stream, options, paused, streaming_pipeline

RAW_IDS = [f"raw-{kind}-{name}" for kind in ("user", "dev") for name in ("ann", "bob", "cid", "dan", "eve", "fay")]


def _event(name: str, at_s: float, **kw: Any):
    return paused(f"raw-user-{name}", at_s, device_id=f"raw-dev-{name}", **kw)


def _strings(value: Any):
    """Every text a row holds: strings, bytes as UTF-8, and base64 text decoded (the payload)."""
    if isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, bytes):
        yield value.decode("utf-8", errors="ignore")
    elif isinstance(value, str):
        yield value
        with contextlib.suppress(binascii.Error, ValueError):
            yield base64.b64decode(value, validate=True).decode("utf-8", errors="ignore")


def no_raw_id(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        for text in _strings(row):
            leaked = [raw for raw in RAW_IDS if raw in text]
            if leaked:
                raise BeamAssertException(f"raw ids {leaked} in {row}")


def test_no_raw_id_reaches_any_output_row() -> None:
    ann, again = _event("ann", 0), None
    bob = _event("bob", 1, position_ms=-1)  # Avro that fails validation
    cid = message(_event("cid", 2), message_id="m-cid")
    cid = replace(cid, data=cid.data[:-6])  # Avro cut short: only the envelope prefix reads
    dan = RawMessage(  # a JSON object sent to the Avro topic
        json.dumps({"user_id": "raw-user-dan", "device_id": "raw-dev-dan", "event_type": "VideoPaused"}).encode(),
        {"schema_version": contract.current_version(), "uid": "raw-user-dan"},  # and an attribute naming it
        "m-dan",
        T0_MS + 3,
    )
    eve = RawMessage(b"\x00garbage of raw-user-eve on raw-dev-eve", {"schema_version": "1.1"}, "m-eve", T0_MS + 4)
    empty = RawMessage(b"", {}, "m-empty", T0_MS + 5)
    again = message(ann, publish_delay_ms=2_000, message_id="m-again")
    fay = RawMessage(  # the collector refused it, and its detail quotes the ids
        json.dumps({"user_id": "raw-user-fay", "device_id": "raw-dev-fay", "event_type": 7}).encode(),
        {attr.REJECT_REASON: Reason.UNKNOWN_EVENT_TYPE, attr.REJECT_DETAIL: "unknown event_type 7 of raw-user-fay"},
        "m-fay",
        T0_MS + 6,
    )
    listed = RawMessage(b'["raw-user-fay"]', {attr.REJECT_REASON: Reason.NOT_AN_EVENT}, "m-list", T0_MS + 7)
    delivered = [message(ann), message(bob, message_id="m-bob"), cid, dan, eve, empty]
    stream = new_stream().add_elements(at(delivered)).advance_processing_time(1)
    stream = stream.add_elements(at([again])).advance_watermark_to_infinity()
    opts = options()
    with streaming_pipeline(opts) as p:
        out = process(
            p | "Messages" >> stream,
            opts,
            p | "Catalog" >> beam.Create([CATALOG]),
            p | "Rejected" >> beam.Create([fay, listed]),
        )
        everything = (out.events, out.sessions, out.dead_letters, out.duplicates) | beam.Flatten()
        assert_that(everything, no_raw_id, label="NoRawId")
        assert_that(
            out.events | "EventIds" >> beam.Map(lambda e: (e["user_id"], e["device_id"])),
            equal_to([(pseudonym("raw-user-ann"), pseudonym("raw-dev-ann"))]),
            label="Events",
        )
        assert_that(
            out.duplicates | "DuplicateIds" >> beam.Map(lambda d: d["user_id"]),
            equal_to([pseudonym("raw-user-ann")]),
            label="Duplicates",
        )
        assert_that(
            out.sessions | "SessionIds" >> beam.Map(lambda s: s["user_id"]),
            _only(pseudonym("raw-user-ann")),
            label="Sessions",
        )
        assert_that(
            out.dead_letters | "DeadIds" >> beam.Map(lambda d: (d["message_id"], d["payload_ids"], d["user_id"])),
            equal_to(
                [
                    ("m-bob", "pseudonymised", pseudonym("raw-user-bob")),
                    ("m-cid", "pseudonymised", pseudonym("raw-user-cid")),
                    ("m-dan", "pseudonymised", pseudonym("raw-user-dan")),
                    ("m-eve", "encrypted", None),
                    ("m-empty", "none", None),
                    ("m-fay", "pseudonymised", pseudonym("raw-user-fay")),
                    ("m-list", "encrypted", None),
                ]
            ),
            label="DeadLetters",
        )
        assert_that(
            out.dead_letters | "Payloads" >> beam.Map(_readable_ids),
            equal_to(
                [
                    ("m-bob", pseudonym("raw-user-bob"), pseudonym("raw-dev-bob")),
                    ("m-cid", None, None),
                    ("m-dan", pseudonym("raw-user-dan"), pseudonym("raw-dev-dan")),
                    ("m-eve", None, None),
                    ("m-empty", None, None),
                    ("m-fay", pseudonym("raw-user-fay"), pseudonym("raw-dev-fay")),
                    ("m-list", None, None),
                ]
            ),
            label="PayloadIds",
        )


def _readable_ids(row: dict[str, Any]) -> tuple[str, str | None, str | None]:
    """The ids a dead letter's payload holds once read back: the whole Avro event, or the JSON."""
    data = base64.b64decode(row["payload"])
    if row["payload_ids"] == "encrypted":
        opened = open_sealed(keyring(), data)  # sealed, and the key opens it again
        assert opened and opened != data
        return row["message_id"], None, None
    if data.startswith(b"{"):
        found = json.loads(data)
        return row["message_id"], found["user_id"], found["device_id"]
    try:
        record = contract.decode(data, contract.current_version())
    except Exception:  # the truncated one: its ids are checked by the scan
        return row["message_id"], None, None
    return row["message_id"], record["user_id"], record["device_id"]


def _only(value: str):
    def match(actual: list[str]) -> None:
        if not actual or set(actual) != {value}:
            raise BeamAssertException(f"expected only {value}, got {actual}")

    return match


def test_the_pipeline_refuses_to_build_without_a_pseudonym_key() -> None:
    opts = options(pseudonym_key="")
    with pytest.raises(ValueError, match=r"--pseudonym_key.*docs/privacy\.md"), streaming_pipeline(opts) as p:
        process(p | beam.Create([]), opts, p | "Catalog" >> beam.Create([CATALOG]))
