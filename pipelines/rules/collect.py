"""Events the HTTP collector refused (its rejected topic) as ``dead_letters`` rows. Never raises.

The collector publishes every event it cannot accept (not a JSON object, does not fit the
contract, ...) to the rejected topic, with the reason and detail as attributes
(``clickstream.core.attributes``). Each such message becomes exactly one ``collect`` dead
letter, so the ledger counts it like any other published message. The item is JSON with the
client's raw ids: it is stored with them pseudonymised (or sealed, when it is no JSON object),
and the collector's detail with any raw id it quotes replaced (``rules.pseudonymise``).
"""

from __future__ import annotations

from typing import Any

from clickstream.core import attributes as attr
from clickstream.core.pseudonyms import Keyring
from clickstream.core.reasons import Reason, Stage
from pipelines.messages import RawMessage
from pipelines.rules import pseudonymise
from pipelines.rules.privacy_filter import GRANTED

_REASONS = frozenset(Reason)


def rejected_dead_letter(
    raw: RawMessage, keyring: Keyring, now_ms: int | None = None, consent_default: str = GRANTED
) -> dict[str, Any]:
    """The one ``collect`` dead letter of a rejected-topic message (without payload when its
    person refused analytics, ``consent_default`` deciding for an item without consent).

    A reason code this pipeline does not know (a newer collector, a typo) must not make the row
    unreadable for the ledger's reason list: it becomes ``invalid_value`` and the code the
    collector gave is kept, word for word, in the error text.
    """
    given = raw.attributes.get(attr.REJECT_REASON)
    detail = raw.attributes.get(attr.REJECT_DETAIL) or ""
    if given in _REASONS:
        reason, error = Reason(given), detail
    elif given is None:
        reason, error = Reason.INVALID_VALUE, f"the collector set no {attr.REJECT_REASON} attribute; {detail}"
    else:
        reason, error = Reason.INVALID_VALUE, f"the collector's reason {given!r} is not a known reason: {detail}"
    return pseudonymise.dead_letter(
        raw,
        keyring,
        Stage.COLLECT,
        reason,
        error.rstrip("; "),
        consent_default=consent_default,
        event_id=raw.attributes.get(attr.EVENT_ID),
        event_type=raw.attributes.get(attr.EVENT_TYPE),
        now_ms=now_ms,
    )
