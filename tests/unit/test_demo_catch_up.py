"""The demo's wait for the pipeline to catch up: it scales with the lag it sees."""

from __future__ import annotations

from clickstream.app.demo_catch_up import (
    GRACE_S,
    MAX_REMAINING_S,
    Sample,
    give_up_message,
    suggested_rate,
    sustained_rate,
    verdict,
)


def _falling(start_lag: int, per_s: float, until_s: float, every_s: float = 3.0) -> list[Sample]:
    samples, t = [], 0.0
    while t <= until_s:
        samples.append(Sample(t, max(int(start_lag - per_s * t), 0)))
        t += every_s
    return samples


def test_catch_up_keeps_waiting_while_the_lag_still_falls_fast() -> None:
    """The issue's run: a lag of 1,882 draining at about 16/s was given up 120 s in, 32 messages short."""
    samples = _falling(1882, 15.5, 120)
    assert samples[-1].lag == 22
    v = verdict(samples)
    assert v.wait and v.drain_per_s is not None and 15 < v.drain_per_s < 17


def test_catch_up_waits_through_the_grace_period_even_without_progress() -> None:
    v = verdict([Sample(0, 500), Sample(GRACE_S - 5, 500)])
    assert v.wait


def test_catch_up_gives_up_when_the_lag_stops_falling() -> None:
    samples = _falling(3000, 20, 90) + [Sample(90 + d, 1200) for d in range(3, 61, 3)]
    v = verdict(samples)
    assert v.give_up and not v.done and v.drain_per_s == 0


def test_catch_up_gives_up_when_draining_would_take_too_long() -> None:
    samples = _falling(50_000, 10, GRACE_S + 30)  # 10/s with about 49,000 to go: over an hour
    v = verdict(samples)
    assert v.give_up and v.eta_s is not None and v.eta_s > MAX_REMAINING_S


def test_catch_up_is_done_once_the_lag_is_zero() -> None:
    v = verdict(_falling(300, 100, 6))
    assert v.done and not v.give_up


def test_give_up_message_says_the_sustained_rate_and_a_lower_rate_to_try() -> None:
    samples = _falling(3000, 20, 90) + [Sample(90 + d, 1200) for d in range(3, 61, 3)]
    sustained = sustained_rate(accounted=9000, seconds=150)  # 60/s
    message = give_up_message(9000, 10200, 150, verdict(samples), sustained, 100, "/tmp/pipeline.log")
    assert "accounted for 9000 of 10200 messages 150s after the last event" in message
    assert "sustained about 60 events/s" in message
    assert "clickstream demo --rate 48" in message
    assert "/tmp/pipeline.log" in message


def test_suggested_rate_is_below_what_was_asked() -> None:
    assert suggested_rate(sustained=500, asked=100) == 99
    assert suggested_rate(sustained=0.2, asked=5) == 1
