"""Reading the one ledger of outcomes: where every published message went.

The definition lives in SQL, once: the view ``message_outcomes`` (``sql/views``), summed by
``sql/ledger/summary.sql``. This module only folds those rows into a ``Ledger`` and says
whether it balances against a published count. The demo, ``clickstream ledger``, the
reliability suite and the integration tests all read it through ``read_ledger``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from google.cloud import bigquery

from clickstream.core.config import Settings
from clickstream.core.reasons import Outcome
from clickstream.core.sql import read_sql, run_script

# Before any publish time: "since the beginning".
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# Why a row of message_outcomes stands for no published message (its not_input_because).
OUTPUT_ROW = "output_row"
REPLAYED = "replayed"
RECORDED_AGAIN = "recorded_again"


@dataclass
class Ledger:
    """The ledger's totals for one range of ledger time (publish time)."""

    stored: int = 0
    dead_letters: dict[str, int] = field(default_factory=dict)  # input messages, by reason
    duplicates: int = 0
    filtered: dict[str, int] = field(default_factory=dict)  # by reason
    # Rows that stand for no published message: session panes the warehouse refused ...
    output_rows: int = 0
    # ... dead letters a later replay re-processed (the replay's record is the outcome) ...
    replayed: int = 0
    # ... and a second record of a message already counted (a Pub/Sub redelivery dropped by
    # dedup or dead-lettered again). A second *stored* record counts in ``doubled`` instead.
    redelivered: int = 0
    # Stored rows beyond the first of each event_id, and messages stored twice.
    doubled: int = 0
    # Of the stored events, those whose event_id the HTTP collector made (the client sent none):
    # a client retry of such an event cannot be recognised as a duplicate.
    generated_ids: int = 0
    # Of the stored events, those enrichment marked as a bot's: stored (and counted in ``stored``),
    # but in no session and no signal.
    bots: int = 0
    # Of the stored messages, the ThumbnailsShown ones: stored as impressions rows (one per
    # thumbnail shown), counted once per message like every stored event.
    impressions: int = 0

    @property
    def dead_lettered(self) -> int:
        return sum(self.dead_letters.values())

    @property
    def filtered_total(self) -> int:
        return sum(self.filtered.values())

    @property
    def accounted(self) -> int:
        """Published messages with an outcome: stored + dead-lettered + duplicates + filtered."""
        return self.stored + self.dead_lettered + self.duplicates + self.filtered_total

    def difference(self, published: int) -> int:
        """Published messages without an outcome (negative: more outcomes than messages)."""
        return published - self.accounted

    def balances(self, published: int) -> bool:
        """Nothing lost (every published message has an outcome) and nothing doubled."""
        return self.difference(published) == 0 and self.doubled == 0

    def equation(self, published: int | None = None) -> str:
        """``published N = stored a + dead-lettered b + duplicates c (+ filtered d)``."""
        parts = f"stored {self.stored} + dead-lettered {self.dead_lettered} + duplicates dropped {self.duplicates}"
        if self.filtered:
            parts += f" + filtered {self.filtered_total}"
        left = f"published {published}" if published is not None else f"accounted {self.accounted}"
        sign = "=" if published is None or self.difference(published) == 0 else "!="
        return f"{left} {sign} {parts}"


def ledger_from_rows(rows: list[dict[str, Any]]) -> Ledger:
    """Fold ``sql/ledger/summary.sql`` rows (outcome, reason, not_input_because, n, doubled, generated_ids, bots,
    impressions)."""
    ledger = Ledger()
    for row in rows:
        n, outcome, reason, why = int(row["n"]), row["outcome"], row["reason"], row.get("not_input_because")
        if outcome == Outcome.STORED and why is None:
            ledger.doubled += int(row.get("doubled") or 0)  # one event_id, several messages stored
        if not n:
            continue
        if why == OUTPUT_ROW:
            ledger.output_rows += n
        elif why == REPLAYED:
            ledger.replayed += n
        elif why == RECORDED_AGAIN:
            if outcome == Outcome.STORED:
                ledger.doubled += n  # one message stored twice
            else:
                ledger.redelivered += n
        elif why is not None:
            raise ValueError(f"message_outcomes has a not_input_because this reader does not know: {why!r}")
        elif outcome == Outcome.STORED:
            ledger.stored += n
            ledger.generated_ids += int(row.get("generated_ids") or 0)
            ledger.bots += int(row.get("bots") or 0)
            ledger.impressions += int(row.get("impressions") or 0)
        elif outcome == Outcome.DUPLICATE:
            ledger.duplicates += n
        elif outcome == Outcome.DEAD_LETTER:
            ledger.dead_letters[reason] = ledger.dead_letters.get(reason, 0) + n
        elif outcome == Outcome.FILTERED:
            ledger.filtered[reason] = ledger.filtered.get(reason, 0) + n
        else:
            raise ValueError(f"message_outcomes has an outcome this reader does not know: {outcome!r}")
    return ledger


def read_ledger(client: bigquery.Client, settings: Settings, since: datetime = EPOCH) -> Ledger:
    """The ledger of the messages published since ``since`` in ``settings.dataset``."""
    rows = run_script(client, settings, read_sql("ledger/summary.sql", settings), {"since": since})
    return ledger_from_rows(rows)
