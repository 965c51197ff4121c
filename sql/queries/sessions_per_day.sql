-- Sessions per day and their median length, from the one-row-per-final-session view.
-- Parameter: @days INT64 (how many days back from today).
SELECT
  DATE(session_start) AS day,
  COUNT(*) AS sessions,
  COUNT(DISTINCT user_id) AS users,
  APPROX_QUANTILES(duration_s, 2)[OFFSET(1)] AS median_duration_s,
  AVG(event_count) AS avg_events_per_session
FROM `${project}.${dataset}.sessions_final`
WHERE session_start >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL @days DAY)
GROUP BY day
ORDER BY day
