-- How many of the messages published since @since (TIMESTAMP) the pipeline has accounted
-- for: event rows, input dead letters and dropped duplicates. `clickstream demo` polls this
-- to show the pipeline's lag. Sink dead letters of other tables (session panes) are not inputs.
SELECT
  (SELECT COUNT(*) FROM `${project}.${dataset}.events` WHERE publish_time >= @since)
  + (
    SELECT COUNT(*) FROM `${project}.${dataset}.dead_letters`
    WHERE publish_time >= @since AND (stage != 'sink' OR error LIKE '${project}.${dataset}.events:%')
  )
  + (SELECT COUNT(*) FROM `${project}.${dataset}.duplicates` WHERE publish_time >= @since) AS landed
