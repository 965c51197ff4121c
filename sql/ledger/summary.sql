-- The ledger's totals for the messages whose ledger_time (publish time, else when recorded) is
-- at or after @since (TIMESTAMP): one row per outcome, reason and not_input_because, read by
-- clickstream.core.ledger (the demo, `clickstream ledger`, the tests). `doubled` counts stored
-- rows beyond the first of each event_id: an event stored twice, which must never happen.
-- `generated_ids` counts stored rows whose event_id the HTTP collector made (the client sent none).
-- `bots` counts stored rows enrichment marked as a bot's (stored like any event, in no session or signal).
-- `impressions` counts stored messages that were ThumbnailsShown (stored as impressions rows, one
-- record per message in message_outcomes); an impression stored twice adds to `doubled`.
SELECT
  outcome,
  reason,
  not_input_because,
  COUNT(*) AS n,
  COUNT(*) - COUNT(DISTINCT event_id) + SUM(doubled_rows) AS doubled,
  COUNTIF(event_id_generated) AS generated_ids,
  COUNTIF(is_bot) AS bots,
  COUNTIF(stored_table = 'impressions') AS impressions
FROM `${project}.${dataset}.message_outcomes`
WHERE ledger_time >= @since
GROUP BY outcome, reason, not_input_because
