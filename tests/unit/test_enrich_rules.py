"""Enrich rules: the catalog join, the user-agent parse and the watch ratio."""

from __future__ import annotations

import pytest

from clickstream.core.tables import REPLAYED_AT, table_specs
from pipelines.rules.enrich import enrich, parse_user_agent, watch_ratio
from tests.support.teststream import CATALOG, clicked, decoded, paused

PROCESSED_AT = "2026-01-01T00:00:01.000Z"


@pytest.mark.parametrize(
    ("position_ms", "duration_ms", "ratio"),
    [
        (60_000, 240_000, 0.25),
        (0, 240_000, 0.0),
        (250_000, 240_000, 1.0),  # a playhead past the end counts as the whole video
        (60_000, None, None),
        (60_000, 0, None),  # no division by zero
        (None, 240_000, None),
    ],
)
def test_watch_ratio(position_ms, duration_ms, ratio) -> None:
    assert watch_ratio(position_ms, duration_ms) == ratio


def test_catalog_hit_fills_the_video_fields_and_the_missing_duration() -> None:
    event = decoded(paused("u", 0, video="vid-000001", position_ms=60_000))
    row = enrich(event, CATALOG, PROCESSED_AT)
    assert row["catalog_hit"] is True
    assert (row["video_title"], row["video_category"], row["video_creator_id"]) == ("One", "music", "creator-0001")
    assert row["video_duration_ms"] == 240_000 and row["watch_ratio"] == 0.25
    assert row["processed_at"] == PROCESSED_AT
    assert set(row) == set(table_specs()["events"].field_names()) - {REPLAYED_AT}  # set by a replay only
    assert "catalog_hit" not in event  # the input row is not changed


def test_the_events_own_duration_is_kept() -> None:
    event = decoded(paused("u", 0, video="vid-000001", position_ms=30_000, video_duration_ms=60_000))
    row = enrich(event, CATALOG, PROCESSED_AT)
    assert row["video_duration_ms"] == 60_000 and row["watch_ratio"] == 0.5


def test_catalog_miss_is_flagged_and_keeps_the_event() -> None:
    event = decoded(paused("u", 0, video="vid-999999"))
    row = enrich(event, CATALOG, PROCESSED_AT)
    assert row["catalog_hit"] is False
    assert row["video_title"] is None and row["video_category"] is None and row["video_creator_id"] is None
    assert row["video_duration_ms"] is None and row["watch_ratio"] is None
    assert {k: row[k] for k in event if k != "user_agent"} == {k: v for k, v in event.items() if k != "user_agent"}


def test_the_raw_user_agent_is_parsed_then_dropped() -> None:
    event = decoded(paused("u", 0))
    assert event["user_agent"]
    row = enrich(event, CATALOG, PROCESSED_AT)
    assert row["user_agent"] is None
    assert row["browser_family"] and row["os_family"]


@pytest.mark.parametrize(
    ("user_agent", "reason"),
    [
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "spider_device"),
        ("python-requests/2.31.0", "crawler_list"),
        ("curl/8.5.0", "crawler_list"),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0.0.0 Safari/537.36",
            None,
        ),
    ],
)
def test_bots_are_marked_with_the_reason_and_kept(user_agent: str, reason: str | None) -> None:
    event = {**decoded(paused("u", 0)), "user_agent": user_agent}
    row = enrich(event, CATALOG, PROCESSED_AT)
    assert row["bot_reason"] == reason
    assert row["is_bot"] is (reason is not None)


def test_a_click_gets_no_duration_and_no_ratio_from_the_catalog() -> None:
    row = enrich(decoded(clicked("u", 0, video="vid-000002")), CATALOG, PROCESSED_AT)
    assert row["catalog_hit"] and row["video_title"] == "Two"
    assert row["video_duration_ms"] is None and row["watch_ratio"] is None


def test_user_agent_parse() -> None:
    firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
    _, os_family, browser = parse_user_agent(firefox)
    assert (os_family, browser) == ("Linux", "Firefox")
    iphone = (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
    )
    assert parse_user_agent(iphone) == ("iPhone", "iOS", "Mobile Safari")
    assert parse_user_agent("") == (None, None, None)
    row = enrich({**decoded(clicked("u", 0)), "user_agent": None}, CATALOG, PROCESSED_AT)
    assert (row["device_family"], row["os_family"], row["browser_family"]) == (None, None, None)
