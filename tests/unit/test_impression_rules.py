"""Impression rules: a ThumbnailsShown is enriched like every event (UA, bot, catalog per item)
and becomes one ``impressions`` row per thumbnail, never an ``events`` row (issue 14)."""

from __future__ import annotations

from dataclasses import replace

from clickstream.core.tables import REPLAYED_AT, table_specs
from emitters.events import ClientInfo, Exploration, ShownThumbnail
from pipelines.rules.enrich import enrich
from pipelines.rules.impressions import impression_rows, is_impressions
from tests.support.keys import pseudonym
from tests.support.teststream import CATALOG, clicked, decoded, paused, shown

PROCESSED_AT = "2026-01-01T00:00:01.000Z"


def test_a_thumbnails_shown_is_enriched_per_item_and_keeps_no_user_agent() -> None:
    event = decoded(shown("u", 0, videos=("vid-000001", "vid-999999", "vid-000002")))
    row = enrich(event, CATALOG, PROCESSED_AT)
    assert [(i["video_id"], i["catalog_hit"], i["video_category"]) for i in row["items"]] == [
        ("vid-000001", True, "music"),
        ("vid-999999", False, None),
        ("vid-000002", True, "news"),
    ]
    assert (row["browser_family"], row["os_family"], row["is_bot"], row["bot_reason"]) == (
        "Firefox",
        "Linux",
        False,
        None,
    )
    assert row["user_agent"] is None and row["processed_at"] == PROCESSED_AT
    assert "catalog_hit" not in event["items"][0]  # the input row is not changed


def test_a_bots_thumbnails_shown_is_marked() -> None:
    bot = ClientInfo(platform="web", app_version="1", user_agent="Googlebot/2.1 (+http://www.google.com/bot.html)")
    row = enrich(decoded(replace(shown("u", 0), client=bot)), CATALOG, PROCESSED_AT)
    assert row["is_bot"] is True and row["bot_reason"]


def test_one_impressions_row_per_thumbnail_with_exactly_the_tables_columns() -> None:
    event = shown(
        "u",
        0,
        items=(
            ShownThumbnail("vid-000002", "imp-a", slot=1, rank=3, row=1, col=1, visible_ms=1200),
            ShownThumbnail("vid-000001", "imp-b", slot=2, rank=2),
            ShownThumbnail("vid-999999", "imp-c", slot=3, rank=1),
        ),
        exploration=Exploration("swap_first", 3, 0.01),
    )
    rows = impression_rows(enrich(decoded(event, message_id="m-7"), CATALOG, PROCESSED_AT))
    columns = set(table_specs()["impressions"].field_names()) - {REPLAYED_AT}  # set by a replay only
    assert all(set(row) == columns for row in rows)
    assert [(r["impression_id"], r["video_id"], r["slot"], r["rank"]) for r in rows] == [
        ("imp-a", "vid-000002", 1, 3),
        ("imp-b", "vid-000001", 2, 2),
        ("imp-c", "vid-999999", 3, 1),
    ]
    first = rows[0]
    assert (first["grid_row"], first["grid_col"], first["visible_ms"]) == (1, 1, 1200)
    assert (first["catalog_hit"], first["video_category"]) == (True, "news")
    assert (rows[2]["catalog_hit"], rows[2]["video_category"]) == (False, None)
    assert {r["event_id"] for r in rows} == {event.event_id}
    assert {r["message_id"] for r in rows} == {"m-7"}
    assert {r["items_shown"] for r in rows} == {3}
    assert first["user_id"] == pseudonym("u") and first["device_id"] == pseudonym("d-u")
    assert (first["request_id"], first["surface"], first["model_version"], first["experiment_ids"]) == (
        "req-1",
        "home",
        "m-1",
        ["exp-a"],
    )
    assert (first["exploration_method"], first["exploration_swapped_rank"], first["exploration_propensity"]) == (
        "swap_first",
        3,
        0.01,
    )
    assert first["event_ts"] == "2026-01-01T00:00:00.000Z" and first["processed_at"] == PROCESSED_AT
    assert first["browser_family"] == "Firefox" and first["is_bot"] is False


def test_rows_of_one_event_do_not_share_their_item_lists() -> None:
    rows = impression_rows(enrich(decoded(shown("u", 0)), CATALOG, PROCESSED_AT))
    rows[0]["experiment_ids"].append("changed")
    assert rows[1]["experiment_ids"] == ["exp-a"]


def test_only_thumbnails_shown_is_impressions() -> None:
    assert is_impressions(decoded(shown("u", 0)))
    assert not is_impressions(decoded(paused("u", 0)))
    assert not is_impressions(decoded(clicked("u", 0)))
