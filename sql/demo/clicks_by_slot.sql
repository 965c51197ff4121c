-- Thumbnail clicks per slot (position in the row), for clicks published since @since.
SELECT slot, COUNT(*) AS clicks
FROM `${project}.${dataset}.events`
WHERE publish_time >= @since AND event_type = 'ThumbnailClicked' AND slot IS NOT NULL
GROUP BY slot
ORDER BY slot
