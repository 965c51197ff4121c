-- The position-bias curve: clicks by surface and on-screen slot, with each slot's share
-- of its surface's clicks. Parameter: @days INT64.
SELECT
  surface,
  slot,
  COUNT(*) AS clicks,
  COUNT(*) / SUM(COUNT(*)) OVER (PARTITION BY surface) AS share_of_surface
FROM `${project}.${dataset}.events_deduplicated`
WHERE event_type = 'ThumbnailClicked'
  AND event_ts >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL @days DAY)
GROUP BY surface, slot
ORDER BY surface, slot
