"""One JSON item of a request -> the contract's Avro record and attributes, or the reason it is refused.

Clients send plain JSON in the contract's field names (no Avro-JSON union wrapping): the
payload's type is named by ``event_type``. The record is checked by the same code as the
Python emitter (``contract.check_envelope``, ``contract.validate_record``) and encoded by
the same ``contract.encode``, so an event that reaches the topic through the collector is
byte for byte what the emitter would have published.

The collector fills in only what the client may leave out: ``event_id`` (a UUID4, marked as
generated), ``schema_version`` (the current revision), ``sent_at`` (the receive time: no
client send time means no clock-skew correction), ``client.user_agent`` (the request's
header) and the contract's optional fields (null; ``consent`` too: the pipeline's consent_default
then decides, and the collector never judges a consent it is given). Unknown fields are refused rather than
dropped, so a misspelt field is a visible error and not silently lost data.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from functools import cache
from typing import Any

from clickstream.core import attributes, contract
from clickstream.core.reasons import Reason

# Pub/Sub allows 1024 bytes per attribute value.
MAX_DETAIL_BYTES = 1024


@dataclass(frozen=True, slots=True)
class Accepted:
    """An item that fits the contract: its Avro bytes and contract attributes."""

    event_id: str
    data: bytes
    attributes: dict[str, str]
    event_id_generated: bool


@dataclass(frozen=True, slots=True)
class Rejected:
    """An item the contract refuses: it travels to the rejected topic as JSON, with the reason."""

    reason: Reason
    detail: str
    data: bytes
    event_id: str | None  # only a UUID: it becomes an attribute (<= 1024 bytes)


@dataclass(frozen=True)
class _Shape:
    """Field names of one revision: the envelope, ``client``, each payload type (all, required,
    and its Avro record, which ``_conform`` follows into nested records), and the ``consent``
    record's fields with their Avro types (empty before 1.2)."""

    envelope: frozenset[str]
    client: tuple[str, ...]
    payloads: dict[str, tuple[tuple[str, ...], frozenset[str]]]
    consent: dict[str, Any]
    records: dict[str, dict[str, Any]]


# What a JSON value must be for an Avro primitive, and how to say so. bool is an int in Python,
# not in JSON: true is no slot number.
_JSON_TYPES: dict[str, tuple[type | tuple[type, ...], str]] = {
    "boolean": (bool, "true or false"),
    "string": (str, "a string"),
    "int": (int, "an int"),
    "long": (int, "an int"),
    "double": ((int, float), "a number"),
    "float": ((int, float), "a number"),
}


def _optional(field: dict[str, Any]) -> bool:
    """A field a client may leave out: a null union, or one with a default (``experiment_ids: []``)."""
    kind = field["type"]
    return (isinstance(kind, list) and "null" in kind) or "default" in field


@cache
def _shape(version: str) -> _Shape:
    schema = json.loads(contract.revision(version).definition)
    by_name = {f["name"]: f for f in schema["fields"]}
    payloads = {
        branch["name"]: (
            tuple(f["name"] for f in branch["fields"]),
            frozenset(f["name"] for f in branch["fields"] if not _optional(f)),
        )
        for branch in by_name["payload"]["type"]
    }
    consent: dict[str, Any] = {}
    if "consent" in by_name:
        (record,) = [branch for branch in by_name["consent"]["type"] if isinstance(branch, dict)]
        consent = {f["name"]: f["type"] for f in record["fields"]}
    return _Shape(
        envelope=frozenset(by_name),
        client=tuple(f["name"] for f in by_name["client"]["type"]["fields"]),
        payloads=payloads,
        consent=consent,
        records={branch["name"]: branch for branch in by_name["payload"]["type"]},
    )


class _Refused(Exception):
    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _cut(text: str, limit: int = MAX_DETAIL_BYTES) -> str:
    raw = text.encode()
    if len(raw) <= limit:
        return text
    return raw[: limit - 3].decode(errors="ignore") + "..."


def item_json(item: Any) -> bytes:
    """The item as compact UTF-8 JSON: what the rejected topic carries, and what the size limit measures."""
    return json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode()


def _fits(payload: dict[str, Any], names: tuple[str, ...], required: frozenset[str]) -> bool:
    return required.issubset(payload) and set(payload).issubset(names)


def _payload_type(event_type: Any, payload: Any, shape: _Shape) -> str | None:
    """The type the payload's fields say it is: the declared one when they fit it, else the one
    type they do fit (a client that mislabelled its event), else None (a contract violation)."""
    if not isinstance(payload, dict):
        return None
    if event_type in shape.payloads and _fits(payload, *shape.payloads[event_type]):
        return event_type
    fitting = [name for name, spec in shape.payloads.items() if _fits(payload, *spec)]
    return fitting[0] if len(fitting) == 1 else None


def _conform(kind: Any, value: Any, where: str) -> Any:
    """``value`` as the Avro type ``kind`` takes it, for the values of a payload (recursively:
    the items of a ThumbnailsShown, its exploration). A nested record left to Avro validation
    would lose a misspelt field silently (fastavro ignores unknown keys) and name no item, so
    each record is checked here: unknown fields refused, missing required ones named, left-out
    optional ones given their default, primitives of the wrong JSON type refused with the path."""
    if isinstance(kind, list):  # a union: ["null", T] in this contract
        if value is None and "null" in kind:
            return None
        (kind,) = [k for k in kind if k != "null"]
    if isinstance(kind, dict) and kind["type"] == "record":
        if not isinstance(value, dict):
            raise _Refused(Reason.CONTRACT_VIOLATION, f"{where} must be an object, not {type(value).__name__}")
        fields = {f["name"]: f for f in kind["fields"]}
        unknown = sorted(set(value) - set(fields))
        missing = [name for name, f in fields.items() if name not in value and not _optional(f)]
        if unknown or missing:
            found = ([f"unknown fields {unknown}"] if unknown else []) + ([f"missing {missing}"] if missing else [])
            raise _Refused(Reason.CONTRACT_VIOLATION, f"{where}: {', '.join(found)}")
        return {
            name: _conform(f["type"], value[name] if name in value else f.get("default"), f"{where}.{name}")
            for name, f in fields.items()
        }
    if isinstance(kind, dict) and kind["type"] == "array":
        if not isinstance(value, list):
            raise _Refused(Reason.CONTRACT_VIOLATION, f"{where} must be a list, not {type(value).__name__}")
        return [_conform(kind["items"], v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(kind, str) and kind in _JSON_TYPES:
        expected, wording = _JSON_TYPES[kind]
        if isinstance(value, bool) is not (kind == "boolean") or not isinstance(value, expected):
            raise _Refused(Reason.CONTRACT_VIOLATION, f"{where} must be {wording}, not {value!r}")
    return value


def _consent(value: Any, fields: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON ``consent`` as the contract's record: None stays None (the pipeline's
    consent_default decides), an optional field left out is null, anything else that does not
    fit is refused with the field named. Checked here rather than left to Avro validation, whose
    message would not say which consent field is wrong."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _Refused(Reason.CONTRACT_VIOLATION, f"consent must be an object, not {type(value).__name__}")
    unknown = sorted(set(value) - set(fields))
    if unknown:
        raise _Refused(Reason.CONTRACT_VIOLATION, f"unknown consent fields {unknown}")
    record = {}
    for name, kind in fields.items():
        optional = isinstance(kind, list) and "null" in kind
        (primitive,) = [t for t in kind if t != "null"] if isinstance(kind, list) else [kind]
        field = value.get(name)
        if field is None and not optional:
            raise _Refused(Reason.CONTRACT_VIOLATION, f"consent.{name} is required")
        expected, wording = _JSON_TYPES[primitive]
        if field is not None and not isinstance(field, expected):
            wording += " or null" if optional else ""
            raise _Refused(Reason.CONTRACT_VIOLATION, f"consent.{name} must be {wording}, not {field!r}")
        record[name] = field
    return record


def _record(item: dict[str, Any], *, received_at_ms: int, user_agent: str | None) -> tuple[dict[str, Any], bool]:
    version = item.get("schema_version")
    if version is None:
        version = contract.current_version()
    if not isinstance(version, str) or version not in contract.revisions():
        raise _Refused(
            Reason.UNKNOWN_SCHEMA_VERSION,
            f"unknown schema_version {version!r}; known: {', '.join(contract.revisions())}",
        )
    shape = _shape(version)
    unknown = sorted(set(item) - shape.envelope)
    if unknown:
        raise _Refused(Reason.CONTRACT_VIOLATION, f"unknown fields {unknown} (contract {version})")

    event_id = item.get("event_id")
    generated = event_id is None
    if generated:
        event_id = str(uuid.uuid4())
    event_type = item.get("event_type")
    payload = item.get("payload")
    payload_type = _payload_type(event_type, payload, shape)
    try:
        contract.check_envelope(event_id, event_type, payload_type)
    except contract.EnvelopeError as exc:
        raise _Refused(exc.reason, str(exc)) from None
    if event_type not in shape.payloads:  # a later revision's type (ThumbnailsShown) under an earlier one
        raise _Refused(Reason.UNKNOWN_EVENT_TYPE, f"event_type {event_type!r} is not in contract {version}")

    client = item.get("client")
    if not isinstance(client, dict):
        raise _Refused(Reason.CONTRACT_VIOLATION, f"client must be an object, not {type(client).__name__}")
    unknown = sorted(set(client) - set(shape.client))
    if unknown:
        raise _Refused(Reason.CONTRACT_VIOLATION, f"unknown client fields {unknown} (contract {version})")
    if payload_type is None:
        if not isinstance(payload, dict):
            raise _Refused(Reason.CONTRACT_VIOLATION, f"payload must be an object, not {type(payload).__name__}")
        names, required = shape.payloads[event_type]
        missing, extra = sorted(required - set(payload)), sorted(set(payload) - set(names))
        raise _Refused(
            Reason.CONTRACT_VIOLATION,
            f"{event_type} payload: missing {missing}, unknown {extra} (contract {version})",
        )
    client_record = {name: client.get(name) for name in shape.client}
    if client_record.get("user_agent") is None:
        client_record["user_agent"] = user_agent or ""
    sent_at = item.get("sent_at")
    record = {
        "event_id": event_id,
        "event_type": event_type,
        "schema_version": version,
        "event_ts": item.get("event_ts"),
        "sent_at": received_at_ms if sent_at is None else sent_at,
        "user_id": item.get("user_id"),
        "device_id": item.get("device_id"),
        "client": client_record,
        "payload": (
            contract.payload_branch(payload_type),
            _conform(shape.records[payload_type], payload, f"{payload_type} payload"),
        ),
    }
    if shape.consent:
        record["consent"] = _consent(item.get("consent"), shape.consent)
    return record, generated


def convert(item: Any, *, received_at_ms: int, user_agent: str | None) -> Accepted | Rejected:
    """Check one item of a request against the contract and encode it; never raises for bad input."""
    try:
        if not isinstance(item, dict):
            raise _Refused(Reason.NOT_AN_EVENT, f"an event is a JSON object, not {type(item).__name__}")
        record, generated = _record(item, received_at_ms=received_at_ms, user_agent=user_agent)
        contract.validate_record(record, record["schema_version"])
        data = contract.encode(record, record["schema_version"])
    except _Refused as exc:
        return _rejected(item, exc.reason, exc.detail)
    except contract.ContractError as exc:
        return _rejected(item, Reason.CONTRACT_VIOLATION, str(exc))
    return Accepted(record["event_id"], data, attributes.contract_attributes(record), generated)


def _rejected(item: Any, reason: Reason, detail: str) -> Rejected:
    # The id travels as an attribute only when it is a UUID: Pub/Sub refuses attribute values
    # over 1024 bytes, and the batching client sends other requests' messages in the same call,
    # so one oversize id would fail them all. Any other id stays in the item's JSON (the data).
    event_id = item.get("event_id") if isinstance(item, dict) else None
    return Rejected(reason, _cut(detail), item_json(item), event_id if contract.is_uuid(event_id) else None)
