-- Where every input went: events, dead letters and dropped duplicates per day.
-- Their sum is the number of messages the pipeline read. Parameter: @days INT64.
WITH landed AS (
  SELECT DATE(processed_at) AS day, 'events' AS outcome FROM `${project}.${dataset}.events`
  UNION ALL
  SELECT DATE(failed_at), 'dead_letters' FROM `${project}.${dataset}.dead_letters`
  UNION ALL
  SELECT DATE(dropped_at), 'duplicates' FROM `${project}.${dataset}.duplicates`
)
SELECT
  day,
  COUNTIF(outcome = 'events') AS events,
  COUNTIF(outcome = 'dead_letters') AS dead_letters,
  COUNTIF(outcome = 'duplicates') AS duplicates,
  COUNT(*) AS messages_read
FROM landed
WHERE day >= DATE_SUB(CURRENT_DATE(), INTERVAL @days DAY)
GROUP BY day
ORDER BY day
