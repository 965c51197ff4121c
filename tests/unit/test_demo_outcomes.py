"""The demo's reconciliation arithmetic, from the rows sql/demo/outcomes.sql returns."""

from __future__ import annotations

from clickstream.app.demo import outcomes_from_rows


def _rows(events: int, duplicates: int, dead: list[tuple[str, bool, int]]) -> list[dict]:
    rows = [
        {"outcome": "events", "reason": None, "is_input": True, "n": events},
        {"outcome": "duplicates", "reason": None, "is_input": True, "n": duplicates},
    ]
    rows += [{"outcome": "dead_letters", "reason": r, "is_input": i, "n": n} for r, i, n in dead]
    return rows


def test_every_message_accounted_for_is_ok() -> None:
    o = outcomes_from_rows(100, _rows(90, 4, [("invalid_slot", True, 4), ("event_time_in_future", True, 2)]))
    assert (o.events, o.duplicates, o.dead_letters) == (90, 4, {"invalid_slot": 4, "event_time_in_future": 2})
    assert o.difference == 0


def test_refused_session_panes_are_not_inputs() -> None:
    o = outcomes_from_rows(10, _rows(10, 0, [("warehouse_rejected", False, 3)]))
    assert o.output_dead_letters == 3 and o.dead_letters == {}
    assert o.difference == 0


def test_a_missing_message_shows_as_a_difference() -> None:
    o = outcomes_from_rows(50, _rows(45, 1, [("invalid_slot", True, 2)]))
    assert o.difference == 2
    o = outcomes_from_rows(50, _rows(48, 3, []))
    assert o.difference == -1
