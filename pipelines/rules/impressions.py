"""Impression rules: what the app showed becomes ``impressions`` rows, one per thumbnail.

A ThumbnailsShown event (contract 1.3) is decoded, filtered, de-duplicated and enriched like
every event, then leaves the events path: it is what the viewer was shown, not something the
viewer did, so it is no ``events`` row and no part of a session. Each of its thumbnails becomes
one row of ``impressions`` (``schemas/bigquery/impressions.schema.json``), carrying the event's
ids, so that the ledger (``sql/views/message_outcomes.sql``) can group them back into the
message's one ``stored`` outcome, and ``ThumbnailClicked.impression_id`` joins a click to it.
"""

from __future__ import annotations

from typing import Any

from pipelines.rules.enrich import SHOWN

# The enriched event's columns every row of the event repeats (the rest are per thumbnail).
_EVENT_COLUMNS = (
    "event_id",
    "schema_version",
    "event_ts",
    "client_event_ts",
    "publish_time",
    "user_id",
    "device_id",
    "request_id",
    "surface",
    "model_version",
    "exploration_method",
    "exploration_swapped_rank",
    "exploration_propensity",
    "platform",
    "app_version",
    "locale",
    "device_family",
    "os_family",
    "browser_family",
    "message_id",
    "processed_at",
    "trace_id",
    "span_id",
    "received_at",
    "client_ip_prefix",
    "event_id_generated",
    "consent_analytics",
    "consent_personalization",
    "consent_policy_version",
    "is_bot",
    "bot_reason",
)
_ITEM_COLUMNS = (
    "impression_id",
    "video_id",
    "slot",
    "rank",
    "grid_row",
    "grid_col",
    "visible_ms",
    "catalog_hit",
    "video_category",
)


def is_impressions(event: dict[str, Any]) -> bool:
    """Whether an (enriched) event becomes impressions rather than an events row."""
    return event["event_type"] == SHOWN


def impression_rows(event: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``impressions`` rows of an enriched ThumbnailsShown: one per thumbnail, in slot order
    as sent. A ledger outcome is per message, so every row carries the event's ``message_id``,
    ``publish_time`` and ``event_id``."""
    shared = {column: event.get(column) for column in _EVENT_COLUMNS}
    items = event["items"]
    return [
        {
            **shared,
            "experiment_ids": list(event.get("experiment_ids") or ()),
            "items_shown": len(items),
            **{column: item.get(column) for column in _ITEM_COLUMNS},
        }
        for item in items
    ]
