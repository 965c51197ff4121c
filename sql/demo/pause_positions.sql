-- Where in the video viewers paused (watch ratio 0..1), for pauses published since @since.
SELECT watch_ratio
FROM `${project}.${dataset}.events`
WHERE publish_time >= @since AND event_type = 'VideoPaused' AND watch_ratio IS NOT NULL
