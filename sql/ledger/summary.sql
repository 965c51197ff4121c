-- The ledger's totals for the messages published since @since (TIMESTAMP): one row per
-- outcome, reason and is_input, read by clickstream.core.ledger (the demo, `clickstream
-- ledger`, the tests). `doubled` counts stored rows beyond the first of each event_id: an
-- event stored twice, which must never happen.
SELECT outcome, reason, is_input, COUNT(*) AS n, COUNT(*) - COUNT(DISTINCT event_id) AS doubled
FROM `${project}.${dataset}.message_outcomes`
WHERE publish_time >= @since
GROUP BY outcome, reason, is_input
