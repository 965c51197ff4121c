-- Why inputs were dead-lettered, most frequent first, with an example error.
-- Parameter: @days INT64.
SELECT
  stage,
  reason,
  COUNT(*) AS dead_letters,
  ANY_VALUE(error) AS example_error,
  MAX(failed_at) AS last_seen
FROM `${project}.${dataset}.dead_letters`
WHERE failed_at >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL @days DAY)
GROUP BY stage, reason
ORDER BY dead_letters DESC, stage, reason
