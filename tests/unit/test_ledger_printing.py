"""How `clickstream ledger`, the demo summary and the demo report show the ledger: filtered
messages by reason, and the stored events that were bots'."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Console

from clickstream.app.commands.ledger import ledger_table
from clickstream.app.demo_report import _html
from clickstream.app.demo_result import DemoResult
from clickstream.core.ledger import Ledger

LEDGER = Ledger(stored=90, duplicates=2, filtered={"consent_denied": 5, "erased_user": 3}, bots=7)


def test_the_ledger_table_shows_filtered_by_reason_and_stored_bots() -> None:
    console = Console(width=200, record=True)
    console.print(ledger_table("ledger", LEDGER, 100))
    text = console.export_text()
    lines = {" ".join(line.replace("│", " ").split()) for line in text.splitlines()}
    assert "filtered: consent_denied 5" in lines and "filtered: erased_user 3" in lines
    assert "of which bots (stored, in no session or signal) 7" in lines


def test_the_demo_report_shows_filtered_by_reason_and_stored_bots() -> None:
    result = DemoResult(
        since=datetime(2026, 1, 1, tzinfo=UTC), sent=100, by_kind={}, published=100, ledger=LEDGER, sessions=[],
        trending=[], recommendations={}, signal_rows={}, pause_ratios=[], clicks_by_slot=[], timings={},
    )  # fmt: skip
    page = _html(result, [])
    assert "<th>filtered: consent_denied</th><td>5</td>" in page
    assert "<th>filtered: erased_user</th><td>3</td>" in page
    assert "<th>of which bots (stored, in no session or signal)</th><td>7</td>" in page


def test_the_ledger_table_shows_the_stored_thumbnails_shown() -> None:
    console = Console(width=200, record=True)
    console.print(ledger_table("ledger", Ledger(stored=90, impressions=30), 90))
    lines = {" ".join(line.replace("│", " ").split()) for line in console.export_text().splitlines()}
    assert "of which rows of thumbnails shown (stored as impressions) 30" in lines
