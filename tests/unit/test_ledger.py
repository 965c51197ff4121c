"""The ledger's arithmetic, from the rows sql/ledger/summary.sql returns."""

from __future__ import annotations

from clickstream.core.ledger import ledger_from_rows


def _rows(stored: int, duplicates: int, dead: list[tuple[str, bool, int]], doubled: int = 0) -> list[dict]:
    rows = [
        {"outcome": "stored", "reason": None, "not_input_because": None, "n": stored, "doubled": doubled},
        {"outcome": "duplicate", "reason": None, "not_input_because": None, "n": duplicates, "doubled": 0},
    ]
    rows += [
        {"outcome": "dead_letter", "reason": r, "not_input_because": None if i else "output_row", "n": n, "doubled": 0}
        for r, i, n in dead
    ]
    return rows


def test_every_message_accounted_for_balances() -> None:
    ledger = ledger_from_rows(_rows(90, 4, [("invalid_slot", True, 4), ("event_time_in_future", True, 2)]))
    assert (ledger.stored, ledger.duplicates) == (90, 4)
    assert ledger.dead_letters == {"invalid_slot": 4, "event_time_in_future": 2}
    assert ledger.difference(100) == 0 and ledger.balances(100)
    assert ledger.equation(100) == "published 100 = stored 90 + dead-lettered 6 + duplicates dropped 4"


def test_refused_session_panes_are_not_inputs() -> None:
    ledger = ledger_from_rows(_rows(10, 0, [("warehouse_rejected", False, 3)]))
    assert ledger.output_rows == 3 and ledger.dead_letters == {} and ledger.redelivered == 0
    assert ledger.balances(10)


def test_a_missing_or_extra_message_shows_as_a_difference() -> None:
    ledger = ledger_from_rows(_rows(45, 1, [("invalid_slot", True, 2)]))
    assert ledger.difference(50) == 2 and not ledger.balances(50)
    assert ledger.equation(50).startswith("published 50 != ")
    assert ledger_from_rows(_rows(48, 3, [])).difference(50) == -1


def test_an_event_stored_twice_does_not_balance() -> None:
    # Two messages with one event_id, both stored: the count adds up, the ledger still fails.
    assert not ledger_from_rows(_rows(10, 0, [], doubled=1)).balances(10)
    # One message stored twice: the second row is no input, and it is a doubling.
    again = {"outcome": "stored", "reason": None, "not_input_because": "recorded_again", "n": 1, "doubled": 0}
    rows = [*_rows(10, 0, []), again]
    ledger = ledger_from_rows(rows)
    assert ledger.doubled == 1 and ledger.difference(10) == 0 and not ledger.balances(10)


def test_filtered_messages_count_as_outcomes() -> None:
    rows = [*_rows(8, 0, []), {"outcome": "filtered", "reason": "consent_denied", "not_input_because": None, "n": 2}]
    ledger = ledger_from_rows(rows)
    assert ledger.filtered == {"consent_denied": 2} and ledger.balances(10)
    assert ledger.equation(10).endswith("+ filtered 2")


def test_a_redelivery_is_no_new_message_and_no_doubling() -> None:
    again = {"outcome": "duplicate", "reason": None, "not_input_because": "recorded_again", "n": 4, "doubled": 0}
    ledger = ledger_from_rows([*_rows(10, 0, []), again])
    assert ledger.redelivered == 4 and ledger.duplicates == 0 and ledger.balances(10)


def test_a_dead_letter_a_replay_recovered_is_lineage_not_an_outcome() -> None:
    replayed = {"outcome": "dead_letter", "reason": "event_time_too_old", "not_input_because": "replayed", "n": 3}
    ledger = ledger_from_rows([*_rows(10, 0, []), {**replayed, "doubled": 0}])
    assert ledger.replayed == 3 and ledger.dead_letters == {} and ledger.redelivered == 0
    assert ledger.balances(10)


def test_the_ledger_counts_stored_events_whose_id_the_collector_generated() -> None:
    rows = _rows(10, 0, [])
    rows[0]["generated_ids"] = 3
    # A second record of a stored message is no new event: its ids do not count again.
    rows.append(
        {"outcome": "stored", "reason": None, "not_input_because": "recorded_again", "n": 1, "generated_ids": 1}
    )
    ledger = ledger_from_rows(rows)
    assert ledger.generated_ids == 3
    assert ledger_from_rows(_rows(10, 0, [])).generated_ids == 0  # an older summary without the column


def test_clickstream_ledger_shows_how_many_stored_events_had_a_collector_generated_id() -> None:
    from rich.console import Console

    from clickstream.app.commands.ledger import ledger_table

    rows = _rows(10, 0, [])
    rows[0]["generated_ids"] = 3
    console = Console(width=120, record=True)
    console.print(ledger_table("t", ledger_from_rows(rows), 10))
    lines = [line for line in console.export_text().splitlines() if "collector generated the event_id" in line]
    assert len(lines) == 1 and " 3 " in lines[0], lines


def test_the_ledger_counts_stored_bots_apart_from_their_outcome() -> None:
    rows = _rows(10, 0, [])
    rows[0]["bots"] = 2
    rows.append({"outcome": "stored", "reason": None, "not_input_because": "recorded_again", "n": 1, "bots": 1})
    ledger = ledger_from_rows(rows)
    # Bots are stored events: they count in `stored` (the equation), and apart as `bots`.
    assert ledger.bots == 2 and ledger.stored == 10
    assert ledger_from_rows(_rows(10, 0, [])).bots == 0  # an older summary without the column


def test_the_ledger_counts_stored_thumbnails_shown_apart_from_their_outcome() -> None:
    rows = _rows(10, 0, [])
    rows[0]["impressions"] = 4
    rows.append({"outcome": "stored", "reason": None, "not_input_because": "recorded_again", "n": 1, "impressions": 1})
    ledger = ledger_from_rows(rows)
    # A ThumbnailsShown is one stored message (however many impressions rows it made): in `stored`,
    # and apart as `impressions`; a second record of it is a doubled message, not another one.
    assert (ledger.stored, ledger.impressions, ledger.doubled) == (10, 4, 1)
    assert ledger_from_rows(_rows(10, 0, [])).impressions == 0  # an older summary without the column
