-- Where every message published in the last @days days (INT64) went, per ledger day (the publish
-- day; the day it was recorded for an input without a publish time): the
-- ledger's (message_outcomes) totals. messages = stored + dead_lettered + duplicates + filtered;
-- compare it with what the emitters published. not_inputs are rows that stand for no published
-- message (refused session panes, second records of a message already counted).
SELECT
  DATE(ledger_time) AS day,
  COUNTIF(is_input AND outcome = 'stored') AS stored,
  COUNTIF(is_input AND outcome = 'dead_letter') AS dead_lettered,
  COUNTIF(is_input AND outcome = 'duplicate') AS duplicates,
  COUNTIF(is_input AND outcome = 'filtered') AS filtered,
  COUNTIF(is_input) AS messages,
  COUNTIF(NOT is_input) AS not_inputs
FROM `${project}.${dataset}.message_outcomes`
WHERE DATE(ledger_time) >= DATE_SUB(CURRENT_DATE(), INTERVAL @days DAY)
GROUP BY day
ORDER BY day
