-- message_outcomes: the one ledger of where every published message went.
--
-- One row per recorded outcome. Every published message ends in exactly one place: stored
-- as an event, dead-lettered with a reason (and the stage, and for sink refusals the table
-- that refused it), dropped as a duplicate of an event already kept, or filtered with a
-- reason (consent_denied, erased_user: a valid event deliberately not stored, of which the
-- filtered table keeps only the ids). So, over any range of ledger_time,
--   published = COUNT(*) WHERE is_input
-- and is_input rows never share a message.
--
-- not_input_because says why a row stands for no published message:
--   * 'output_row': a sink dead letter of a session pane (refused_table = 'sessions'), an
--     output of the pipeline, not an input;
--   * 'replayed': a dead letter that a later replay re-processed (pipelines.replay stamps every
--     row it writes with replayed_at, when it started): the replay's record is the outcome;
--   * 'recorded_again': a second record of a message already counted (same message_id and
--     publish time): a Pub/Sub redelivery, dropped by dedup or dead-lettered again, or (if it
--     is a stored row) an event stored twice, which the ledger reports as doubled.
-- A message's outcome is its first record in this order: a stored event (the first one), then
-- the records of its newest replay, then the earliest of the others: filtered, then a dead
-- letter, then a dropped duplicate. Filtered comes before a dead letter because it is, like a
-- stored event, the pipeline's final decision on a valid event (a redelivery may be filtered
-- after an earlier delivery's row was refused by a sink); and a stored record wins over a
-- filtered one because the event is then in the warehouse (a person's suppression period ended
-- between two deliveries), which is what the ledger must show. The filter runs before dedup, so a
-- message is never both filtered and a dropped duplicate in one run.
-- Message ids are unique per topic only while the topic lives (the emulator restarts them at
-- 1), so a message is its id together with its publish time.
-- ledger_time is the publish time, or when the outcome was recorded for inputs that carry no
-- publish time (an archive line without one), so that no outcome falls out of a time range.
-- A refused event or duplicate row is the message's one outcome (it is not in its table).
-- An event the HTTP collector refused is a dead letter with stage 'collect' (from its rejected
-- topic): an input like any other. event_id_generated is TRUE on a stored event whose id the
-- collector made; is_bot is TRUE on a stored event enrichment marked as a bot's (it is stored,
-- and counted as stored: bots are counted apart, not left out).
-- A ThumbnailsShown is stored as several impressions rows (one per thumbnail) and no events
-- row: its rows are grouped back into ONE 'stored' record per (message_id, publish_time,
-- event_id), stored_table = 'impressions' (first processed_at, newest replay, bot if any row is).
-- Rows of one message written by different runs (a refused impression a replay put back) are
-- still one record; an impression stored twice (the same impression_id of one message) is
-- counted in doubled_rows, which the ledger reports as doubled.
-- The reason and stage codes are clickstream.core.reasons.
-- ${project} and ${dataset} are filled in by the deployer.
WITH recorded AS (
  SELECT
    'stored' AS outcome,
    CAST(NULL AS STRING) AS reason,
    CAST(NULL AS STRING) AS stage,
    CAST(NULL AS STRING) AS refused_table,
    TRUE AS counts,
    0 AS precedence,
    message_id,
    event_id,
    publish_time,
    processed_at AS recorded_at,
    replayed_at,
    event_id_generated,
    is_bot,
    'events' AS stored_table,
    0 AS doubled_rows
  FROM `${project}.${dataset}.events`
  UNION ALL
  SELECT
    'stored' AS outcome,
    CAST(NULL AS STRING) AS reason,
    CAST(NULL AS STRING) AS stage,
    CAST(NULL AS STRING) AS refused_table,
    TRUE AS counts,
    0 AS precedence,
    message_id,
    event_id,
    publish_time,
    MIN(processed_at) AS recorded_at,
    MAX(replayed_at) AS replayed_at,
    LOGICAL_OR(event_id_generated) AS event_id_generated,
    LOGICAL_OR(is_bot) AS is_bot,
    'impressions' AS stored_table,
    COUNT(*) - COUNT(DISTINCT impression_id) AS doubled_rows
  FROM `${project}.${dataset}.impressions`
  GROUP BY message_id, publish_time, event_id
  UNION ALL
  SELECT
    'filtered' AS outcome,
    reason,
    CAST(NULL AS STRING) AS stage,
    CAST(NULL AS STRING) AS refused_table,
    TRUE AS counts,
    1 AS precedence,
    message_id,
    event_id,
    publish_time,
    filtered_at AS recorded_at,
    replayed_at,
    CAST(NULL AS BOOL) AS event_id_generated,
    CAST(NULL AS BOOL) AS is_bot,
    CAST(NULL AS STRING) AS stored_table,
    0 AS doubled_rows
  FROM `${project}.${dataset}.filtered`
  UNION ALL
  SELECT
    'dead_letter' AS outcome,
    reason,
    stage,
    refused_table,
    (refused_table IS NULL OR refused_table != 'sessions') AS counts,
    2 AS precedence,
    message_id,
    event_id,
    publish_time,
    failed_at AS recorded_at,
    replayed_at,
    CAST(NULL AS BOOL) AS event_id_generated,
    CAST(NULL AS BOOL) AS is_bot,
    CAST(NULL AS STRING) AS stored_table,
    0 AS doubled_rows
  FROM `${project}.${dataset}.dead_letters`
  UNION ALL
  SELECT
    'duplicate' AS outcome,
    CAST(NULL AS STRING) AS reason,
    CAST(NULL AS STRING) AS stage,
    CAST(NULL AS STRING) AS refused_table,
    TRUE AS counts,
    3 AS precedence,
    message_id,
    event_id,
    publish_time,
    dropped_at AS recorded_at,
    replayed_at,
    CAST(NULL AS BOOL) AS event_id_generated,
    CAST(NULL AS BOOL) AS is_bot,
    CAST(NULL AS STRING) AS stored_table,
    0 AS doubled_rows
  FROM `${project}.${dataset}.duplicates`
),
lineage AS (
  -- Which replay wrote the record: 0 for the streaming pipeline, else when the replay started.
  SELECT *, COALESCE(UNIX_MICROS(replayed_at), 0) AS replay FROM recorded
),
ranked AS (
  SELECT
    *,
    -- The first record of a message in the order above is its outcome.
    ROW_NUMBER() OVER (
      PARTITION BY counts, message_id, publish_time
      ORDER BY precedence > 0, IF(precedence > 0, replay, 0) DESC, precedence, recorded_at
    ) AS record_of_message,
    MAX(replay) OVER (PARTITION BY counts, message_id, publish_time) AS newest_replay
  FROM lineage
),
classified AS (
  SELECT
    *,
    CASE
      WHEN NOT counts THEN 'output_row'
      WHEN message_id IS NOT NULL AND outcome = 'dead_letter' AND replay < newest_replay THEN 'replayed'
      WHEN message_id IS NOT NULL AND record_of_message > 1 THEN 'recorded_again'
    END AS not_input_because
  FROM ranked
)
SELECT
  outcome,
  reason,
  stage,
  refused_table,
  not_input_because IS NULL AS is_input,
  not_input_because,
  message_id,
  event_id,
  publish_time,
  recorded_at,
  replayed_at,
  event_id_generated,
  is_bot,
  stored_table,
  doubled_rows,
  COALESCE(publish_time, recorded_at) AS ledger_time
FROM classified
