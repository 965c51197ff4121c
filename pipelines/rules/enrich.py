"""Enrichment rules: catalog join, user-agent parsing and bot detection, watch ratio.

The raw User-Agent is parsed here and then dropped (``user_agent`` is NULL in ``events``): the
parsed families and the bot verdict are what analysis needs, and the whole string is one of the
strongest fingerprints of a person's device.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from crawleruseragents import is_crawler
from ua_parser import parse as parse_ua

# The event type whose enriched row becomes impressions (``rules.impressions``), not an events row.
SHOWN = "ThumbnailsShown"

CatalogEntry = dict[str, Any]  # title, category, duration_ms, creator_id


@lru_cache(maxsize=4096)
def parse_user_agent(user_agent: str) -> tuple[str | None, str | None, str | None]:
    """(device family, OS family, browser family); a few hundred distinct UAs cover most traffic."""
    if not user_agent:
        return None, None, None
    result = parse_ua(user_agent)
    device = result.device.family if result.device else None
    os_family = result.os.family if result.os else None
    browser = result.user_agent.family if result.user_agent else None
    return device, os_family, browser


# Why an event is a bot's (events.bot_reason).
SPIDER_DEVICE = "spider_device"  # ua-parser's device family for crawlers
CRAWLER_LIST = "crawler_list"  # a pattern of the crawler-user-agents list (about 1,500 crawlers)


@lru_cache(maxsize=4096)
def bot_reason(user_agent: str) -> str | None:
    """Why this User-Agent is a bot's, or None. Cached like ``parse_user_agent``: the list is
    ~1,500 regexes, and a site's traffic comes from a few hundred distinct strings."""
    if not user_agent:
        return None
    if parse_user_agent(user_agent)[0] == "Spider":
        return SPIDER_DEVICE
    if is_crawler(user_agent):
        return CRAWLER_LIST
    return None


def watch_ratio(position_ms: int | None, duration_ms: int | None) -> float | None:
    if position_ms is None or not duration_ms:
        return None
    return min(position_ms / duration_ms, 1.0)


def _client_columns(row: dict[str, Any], processed_at: str) -> None:
    """Parsed UA and bot verdict in place of the raw User-Agent, and when: every event type's."""
    user_agent = row["user_agent"] or ""
    row["device_family"], row["os_family"], row["browser_family"] = parse_user_agent(user_agent)
    row["bot_reason"] = bot_reason(user_agent)
    row["is_bot"] = row["bot_reason"] is not None
    row["user_agent"] = None  # parsed above, never stored
    row["processed_at"] = processed_at


def _enrich_shown(event: dict[str, Any], catalog: dict[str, CatalogEntry], processed_at: str) -> dict[str, Any]:
    """A ThumbnailsShown: the catalog's category for each thumbnail (``impressions`` keeps it per row)."""
    row = dict(event)
    items = []
    for item in event["items"]:
        entry = catalog.get(item["video_id"])
        items.append({**item, "catalog_hit": entry is not None, "video_category": entry["category"] if entry else None})
    row["items"] = items
    _client_columns(row, processed_at)
    return row


def enrich(event: dict[str, Any], catalog: dict[str, CatalogEntry], processed_at: str) -> dict[str, Any]:
    """The ``events`` row: catalog fields (flagged when missing), parsed UA, watch ratio; for a
    ThumbnailsShown, the enriched event its ``impressions`` rows are made of (``rules.impressions``)."""
    if event["event_type"] == SHOWN:
        return _enrich_shown(event, catalog, processed_at)
    entry = catalog.get(event["video_id"])
    row = dict(event)
    row["catalog_hit"] = entry is not None
    row["video_title"] = entry["title"] if entry else None
    row["video_category"] = entry["category"] if entry else None
    row["video_creator_id"] = entry["creator_id"] if entry else None
    if row["event_type"] == "VideoPaused" and row["video_duration_ms"] is None and entry:
        row["video_duration_ms"] = entry["duration_ms"]
    row["watch_ratio"] = watch_ratio(row["position_ms"], row["video_duration_ms"])
    _client_columns(row, processed_at)
    return row
