"""The ids of a message that fails: what a dead letter keeps instead of the raw bytes.

No raw ``user_id`` or ``device_id`` leaves DecodeAndValidate (docs/privacy.md), and the raw
User-Agent is never stored. A dead letter's payload is therefore stored

* ``pseudonymised``: re-encoded in its own format with both ids replaced by their pseudonyms,
  when it can be read: Avro of a known revision (even one that fails validation), a JSON object
  (the collector's rejected item, JSON sent to the Avro topic), or Avro cut short whose envelope
  prefix still reads (``user_id`` and ``device_id`` are the 6th and 7th fields of every
  revision: the prefix is re-encoded, then the client record, the unread rest kept as it was);
  the User-Agent (``client.user_agent``) is dropped: ``""`` in Avro, where it is required, left
  out of JSON. A replay of such a dead letter has no User-Agent to parse;
* ``encrypted``: sealed (``clickstream.core.sealing``) when nobody can say where its ids are: bytes
  that do not read, a JSON object with any field the contract does not know, at any level (a
  misspelt ``userId``, an id nested under ``client``: kept verbatim it would be a raw id labelled
  pseudonymised), and Avro cut short inside its client record (it may hold part of the
  User-Agent); for these two the ``user_id`` column is still set, so erasure finds them;
* ``none``: nothing to hide (an empty payload), or nothing kept: the event's person refused
  analytics (``consent.analytics`` false, or no consent record under ``consent_default=denied``,
  the rule of ``rules.privacy_filter``). Such a dead letter keeps its reason for the ledger, but
  no payload, no user id, no collector detail and an error text that quotes no value.

Error texts and the collector's detail attribute have every raw id found replaced by its pseudonym
(and so has an attribute whose value is a raw id).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

import fastavro

from clickstream.core import attributes as attr
from clickstream.core import contract
from clickstream.core.pseudonyms import Keyring
from clickstream.core.sealing import seal
from pipelines.messages import RawMessage, dead_letter_row
from pipelines.rules.privacy_filter import GRANTED, analytics_denied

PSEUDONYMISED = "pseudonymised"
ENCRYPTED = "encrypted"
NONE = "none"
ID_FIELDS = ("user_id", "device_id")
USER_AGENT = "user_agent"  # of the ``client`` record
_CLIENT_FIELD = 7  # the client record follows the envelope prefix in every revision
_ENVELOPE_PREFIX_FIELDS = 7  # event_id, event_type, schema_version, event_ts, sent_at, user_id, device_id
# Attributes whose text may quote a payload's values (the collector's detail of why it refused).
_QUOTING_ATTRIBUTES = (attr.REJECT_DETAIL,)


@dataclass(frozen=True, slots=True)
class Protected:
    """A payload fit to store, and what was done to it."""

    data: bytes
    payload_ids: str
    user_id: str | None = None  # the pseudonym, when the payload named a user
    replaced: tuple[tuple[str, str], ...] = ()  # (raw id, pseudonym) found, to scrub from texts

    def scrub_value(self, value: str) -> str:
        """An attribute that is exactly a raw id (clients set attributes) becomes its pseudonym."""
        for raw_id, pseudonym in self.replaced:
            if value == raw_id:
                return pseudonym
        return value

    def scrub(self, text: str) -> str:
        for raw_id, pseudonym in self.replaced:
            if raw_id and raw_id != pseudonym:
                text = text.replace(raw_id, pseudonym)
        return text


def pseudonymiser(raw: RawMessage, keyring: Keyring) -> Callable[[str], str]:
    """How this message's ids become pseudonyms: hashed, or kept when they are pseudonyms already."""
    return _same if raw.ids_pseudonymised else keyring.pseudonym


def _same(value: str) -> str:
    return value


def _id_text(value: Any) -> str:
    # An id of the wrong type (the collector refuses ``"user_id": 7``) is still a person's id.
    return value if isinstance(value, str) else json.dumps(value)


class _Ids:
    """Replaces the ids of a record in place, remembering what it replaced."""

    def __init__(self, pseudonymise: Callable[[str], str]) -> None:
        self.pseudonymise = pseudonymise
        self.replaced: list[tuple[str, str]] = []

    def replace_in(self, record: dict[str, Any]) -> str | None:
        for name in ID_FIELDS:
            value = record.get(name)
            if value is not None:
                raw_id = _id_text(value)
                record[name] = self.pseudonymise(raw_id)
                self.replaced.append((raw_id, record[name]))
        user = record.get("user_id")
        return user if isinstance(user, str) else None


def _json_object(data: bytes, ids: _Ids) -> tuple[bytes, str | None] | None:
    if data.lstrip()[:1] != b"{":
        return None
    try:
        item = json.loads(data)
    except ValueError:
        return None
    if not isinstance(item, dict):
        return None
    user = ids.replace_in(item)
    if not _known(item, _json_shape()):
        raise _SealNamed(user)  # sealed, but the ids it names still scrub texts and name the row
    client = item.get("client")
    if isinstance(client, dict):
        client.pop(USER_AGENT, None)
    return json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode(), user


class _SealNamed(Exception):
    """A payload to seal whose user is known all the same: a JSON object with a field the contract
    does not know, Avro cut short inside its client record (it may hold part of the User-Agent)."""

    def __init__(self, user: str | None) -> None:
        super().__init__("sealed, with a known user")
        self.user = user


# The JSON shape of an event: field name -> the shape of its value (None: a plain value,
# ``_ListOf``: an Avro array, e.g. ThumbnailsShown's ``items`` and ``experiment_ids``).
_Shape = Any


@dataclass(frozen=True, slots=True)
class _ListOf:
    item: _Shape


def _shape_of(avro_type: Any, named: dict[str, _Shape]) -> _Shape:
    if isinstance(avro_type, list):  # a union: the fields of any of its records (the payload)
        shapes = [shape for branch in avro_type if (shape := _shape_of(branch, named)) is not None]
        return {name: sub for shape in shapes for name, sub in shape.items()} if shapes else None
    if isinstance(avro_type, str):
        return named.get(avro_type.rsplit(".", 1)[-1])
    if isinstance(avro_type, dict) and avro_type.get("type") == "array":
        return _ListOf(_shape_of(avro_type["items"], named))
    if isinstance(avro_type, dict) and avro_type.get("type") == "record":
        shape = {field["name"]: _shape_of(field["type"], named) for field in avro_type["fields"]}
        named[avro_type["name"]] = shape
        return shape
    return None


def _merge(a: _Shape, b: _Shape) -> _Shape:
    if a is None or b is None:
        return a if b is None else b
    if isinstance(a, _ListOf) or isinstance(b, _ListOf):
        # One field name is a list in one branch and not in another: no payload type does that.
        assert isinstance(a, _ListOf) and isinstance(b, _ListOf), "a field is a list in one branch only"
        return _ListOf(_merge(a.item, b.item))
    return {name: _merge(a.get(name), b.get(name)) for name in a.keys() | b.keys()}


@cache
def _json_shape() -> dict[str, Any]:
    """Every field name the contract knows, at each level, over all its revisions."""
    shape: _Shape = {}
    for version in contract.revisions():
        shape = _merge(shape, _shape_of(json.loads(contract.revision(version).definition), {}))
    return shape or {}


def _known(value: Any, shape: _Shape) -> bool:
    """``value`` holds no field the contract does not know (an object or list where the contract
    has a plain value counts as unknown: it could hold anything)."""
    if shape is None:
        return not isinstance(value, dict | list)
    if isinstance(shape, _ListOf):
        return isinstance(value, list) and all(_known(item, shape.item) for item in value)
    if not isinstance(value, dict):
        return not isinstance(value, list)
    for name, item in value.items():
        if name not in shape:
            return False
        if name in ID_FIELDS and shape[name] is None:
            continue  # an id of any type is hashed whole (``_id_text``)
        if not _known(item, shape[name]):
            return False
    return True


def _versions(version: str | None) -> list[str]:
    known = list(contract.revisions())
    return [version] if version in known else list(reversed(known))


def _avro(data: bytes, version: str | None, ids: _Ids) -> tuple[bytes, str | None] | None:
    """The whole event, read and written with its writer's schema: the same bytes but the ids."""
    for candidate in _versions(version):
        schema = contract.revision(candidate).parsed
        buffer = io.BytesIO(data)
        try:
            record = fastavro.schemaless_reader(buffer, schema, None, return_record_name=True)
            if buffer.tell() != len(data) or not isinstance(record, dict):
                continue
            user = ids.replace_in(record)
            record["client"][USER_AGENT] = ""  # required in Avro: blank, never the raw one
            out = io.BytesIO()
            fastavro.schemaless_writer(out, schema, record)
        except Exception:  # not this revision's bytes
            ids.replaced.clear()
            continue
        return out.getvalue(), user
    return None


@cache
def _prefix_schema() -> Any:
    definition = json.loads(contract.revision(contract.current_version()).definition)
    fields = definition["fields"][:_ENVELOPE_PREFIX_FIELDS]
    return fastavro.parse_schema(
        {"type": "record", "name": "EnvelopePrefix", "namespace": contract.NAMESPACE, "fields": fields}
    )


@cache
def _client_schema(version: str) -> Any:
    field = json.loads(contract.revision(version).definition)["fields"][_CLIENT_FIELD]
    assert field["name"] == "client", f"revision {version}: field {_CLIENT_FIELD} is not the client"
    return fastavro.parse_schema({**field["type"], "namespace": contract.NAMESPACE})


def _envelope_prefix(data: bytes, ids: _Ids) -> tuple[bytes, str | None] | None:
    """Avro cut short: the first seven fields, when they read as an envelope of a known revision,
    then the client record (its User-Agent blanked); the rest is kept as it was."""
    buffer = io.BytesIO(data)
    try:
        prefix = fastavro.schemaless_reader(buffer, _prefix_schema(), None)
    except Exception:
        return None
    version = prefix.get("schema_version")
    if version not in contract.revisions():
        return None  # bytes that happen to read, but are no envelope: sealed instead
    user = ids.replace_in(prefix)
    out = io.BytesIO()
    fastavro.schemaless_writer(out, _prefix_schema(), prefix)
    try:
        client = fastavro.schemaless_reader(buffer, _client_schema(version), None)
    except Exception:
        raise _SealNamed(user) from None
    client[USER_AGENT] = ""
    fastavro.schemaless_writer(out, _client_schema(version), client)
    return out.getvalue() + data[buffer.tell() :], user


def protect(raw: RawMessage, keyring: Keyring, version: str | None = None) -> Protected:
    """``raw.data`` fit to store in a dead letter. ``version``: the revision it claims (if any)."""
    data = raw.data
    if not data:
        return Protected(b"", NONE)
    ids = _Ids(pseudonymiser(raw, keyring))
    try:
        for read in (_json_object, lambda d, i: _avro(d, version, i), _envelope_prefix):
            found = read(data, ids)
            if found is not None:
                return Protected(found[0], PSEUDONYMISED, found[1], tuple(ids.replaced))
    except _SealNamed as named:  # whose it is is known: the row names them for erasure
        return Protected(seal(keyring, data), ENCRYPTED, named.user, tuple(ids.replaced))
    return Protected(seal(keyring, data), ENCRYPTED)


_NO_RECORD = object()


def _consent_of(record: dict[str, Any] | None, data: bytes) -> Any:
    """The ``analytics`` answer the event carries (None: no consent record), or ``_NO_RECORD``
    when the event cannot be read well enough to tell (bytes that do not decode)."""
    if record is None:
        if data.lstrip()[:1] != b"{":
            return _NO_RECORD
        try:
            record = json.loads(data)
        except ValueError:
            return _NO_RECORD
        if not isinstance(record, dict):
            return _NO_RECORD
    consent = record.get("consent")
    if consent is None:
        return None
    analytics = consent.get("analytics") if isinstance(consent, dict) else None
    return analytics if isinstance(analytics, bool) else None


def dead_letter(
    raw: RawMessage,
    keyring: Keyring,
    stage: str,
    reason: str,
    error: str,
    *,
    version: str | None = None,
    record: dict[str, Any] | None = None,
    consent_default: str = GRANTED,
    **row: Any,
) -> dict[str, Any]:
    """``messages.dead_letter_row`` with the payload protected and the texts scrubbed of raw ids.

    ``record``: the decoded event, when it decoded (its consent decides); else a JSON payload's
    ``consent`` does. An event whose person refused analytics keeps no payload at all."""
    analytics = _consent_of(record, raw.data)
    protected = protect(raw, keyring, version)
    attributes = {
        name: protected.scrub(value) if name in _QUOTING_ATTRIBUTES else protected.scrub_value(value)
        for name, value in raw.attributes.items()
    }
    if analytics is not _NO_RECORD and analytics_denied(analytics, consent_default):
        kept = {name: value for name, value in attributes.items() if name not in _QUOTING_ATTRIBUTES}
        letter = dead_letter_row(
            replace(raw, data=b"", attributes=kept),
            stage,
            reason,
            f"{reason} (analytics consent denied: the event is not kept)",
            payload_ids=NONE,
            user_id=None,
            **row,
        )
        return {**letter, "payload": None}
    stored = replace(raw, data=protected.data, attributes=attributes)
    return dead_letter_row(
        stored,
        stage,
        reason,
        protected.scrub(error),
        payload_ids=protected.payload_ids,
        user_id=protected.user_id,
        **row,
    )
