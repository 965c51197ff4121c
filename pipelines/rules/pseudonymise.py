"""The ids of a message that fails: what a dead letter keeps instead of the raw bytes.

No raw ``user_id`` or ``device_id`` leaves DecodeAndValidate (docs/privacy.md). A dead letter's
payload is therefore stored

* ``pseudonymised``: re-encoded in its own format with both ids replaced by their pseudonyms,
  when it can be read: Avro of a known revision (even one that fails validation), a JSON object
  (the collector's rejected item, JSON sent to the Avro topic), or Avro cut short whose envelope
  prefix still reads (``user_id`` and ``device_id`` are the 6th and 7th fields of every
  revision: the prefix is re-encoded, the unread rest kept as it was);
* ``encrypted``: sealed (``clickstream.core.sealing``) when nobody can say where its ids are;
* ``none``: nothing to hide (an empty payload).

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

PSEUDONYMISED = "pseudonymised"
ENCRYPTED = "encrypted"
NONE = "none"
ID_FIELDS = ("user_id", "device_id")
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
    return json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode(), user


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


def _envelope_prefix(data: bytes, ids: _Ids) -> tuple[bytes, str | None] | None:
    """Avro cut short: the first seven fields, when they read as an envelope of a known revision."""
    buffer = io.BytesIO(data)
    try:
        prefix = fastavro.schemaless_reader(buffer, _prefix_schema(), None)
    except Exception:
        return None
    if prefix.get("schema_version") not in contract.revisions():
        return None  # bytes that happen to read, but are no envelope: sealed instead
    rest = data[buffer.tell() :]
    user = ids.replace_in(prefix)
    out = io.BytesIO()
    fastavro.schemaless_writer(out, _prefix_schema(), prefix)
    return out.getvalue() + rest, user


def protect(raw: RawMessage, keyring: Keyring, version: str | None = None) -> Protected:
    """``raw.data`` fit to store in a dead letter. ``version``: the revision it claims (if any)."""
    data = raw.data
    if not data:
        return Protected(b"", NONE)
    ids = _Ids(pseudonymiser(raw, keyring))
    for read in (_json_object, lambda d, i: _avro(d, version, i), _envelope_prefix):
        found = read(data, ids)
        if found is not None:
            return Protected(found[0], PSEUDONYMISED, found[1], tuple(ids.replaced))
    return Protected(seal(keyring, data), ENCRYPTED)


def dead_letter(
    raw: RawMessage,
    keyring: Keyring,
    stage: str,
    reason: str,
    error: str,
    *,
    version: str | None = None,
    **row: Any,
) -> dict[str, Any]:
    """``messages.dead_letter_row`` with the payload protected and the texts scrubbed of raw ids."""
    protected = protect(raw, keyring, version)
    attributes = {
        name: protected.scrub(value) if name in _QUOTING_ATTRIBUTES else protected.scrub_value(value)
        for name, value in raw.attributes.items()
    }
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
