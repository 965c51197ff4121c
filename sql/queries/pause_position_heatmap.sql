-- Where viewers pause: pauses by video category and watch-ratio decile (0 = first 10%).
-- Parameter: @days INT64.
SELECT
  COALESCE(video_category, '(unknown)') AS category,
  LEAST(CAST(FLOOR(watch_ratio * 10) AS INT64), 9) AS decile,
  COUNT(*) AS pauses
FROM `${project}.${dataset}.events_deduplicated`
WHERE event_type = 'VideoPaused'
  AND watch_ratio IS NOT NULL
  AND event_ts >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL @days DAY)
GROUP BY category, decile
ORDER BY category, decile
