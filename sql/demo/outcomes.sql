-- Where the messages published since @since (TIMESTAMP) went, one row per outcome and reason.
-- `clickstream demo` polls it for the pipeline's lag and reads it once more for the summary.
-- is_input is FALSE for sink dead letters of tables other than events (session panes the
-- warehouse refused): those are outputs, not published messages, so reconciliation skips them.
SELECT 'events' AS outcome, CAST(NULL AS STRING) AS reason, TRUE AS is_input, COUNT(*) AS n
FROM `${project}.${dataset}.events`
WHERE publish_time >= @since
UNION ALL
SELECT
  'dead_letters' AS outcome,
  reason,
  (stage != 'sink' OR error LIKE '${project}.${dataset}.events:%') AS is_input,
  COUNT(*) AS n
FROM `${project}.${dataset}.dead_letters`
WHERE publish_time >= @since
GROUP BY reason, is_input
UNION ALL
SELECT 'duplicates' AS outcome, CAST(NULL AS STRING) AS reason, TRUE AS is_input, COUNT(*) AS n
FROM `${project}.${dataset}.duplicates`
WHERE publish_time >= @since
