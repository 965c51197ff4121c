-- message_outcomes: the one ledger of where every published message went.
--
-- One row per recorded outcome. Every published message ends in exactly one place: stored
-- as an event, dead-lettered with a reason (and the stage, and for sink refusals the table
-- that refused it), or dropped as a duplicate of an event already kept (filtered, with a
-- reason, joins here when the pipeline filters). So, over any publish-time range,
--   published = COUNT(*) WHERE is_input
-- and a message_id that appears in two input rows was counted twice.
--
-- is_input is FALSE for rows that do not stand for a published message:
--   * sink dead letters of session panes (refused_table = 'sessions'): outputs of the
--     pipeline, not inputs;
--   * a second record of the same message (same message_id): a redelivery by Pub/Sub of a
--     message already counted, dropped by dedup or dead-lettered again.
-- A refused event or duplicate row is the message's one outcome (it is not in its table).
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
    processed_at AS recorded_at
  FROM `${project}.${dataset}.events`
  UNION ALL
  SELECT
    'dead_letter' AS outcome,
    reason,
    stage,
    refused_table,
    (refused_table IS NULL OR refused_table != 'sessions') AS counts,
    1 AS precedence,
    message_id,
    event_id,
    publish_time,
    failed_at AS recorded_at
  FROM `${project}.${dataset}.dead_letters`
  UNION ALL
  SELECT
    'duplicate' AS outcome,
    CAST(NULL AS STRING) AS reason,
    CAST(NULL AS STRING) AS stage,
    CAST(NULL AS STRING) AS refused_table,
    TRUE AS counts,
    2 AS precedence,
    message_id,
    event_id,
    publish_time,
    dropped_at AS recorded_at
  FROM `${project}.${dataset}.duplicates`
),
ranked AS (
  SELECT
    *,
    -- The first record of a message (a stored event before a dead letter before a dropped
    -- duplicate, then the earliest) is its outcome; later records of it are redeliveries.
    ROW_NUMBER() OVER (
      PARTITION BY counts, message_id ORDER BY precedence, recorded_at
    ) AS record_of_message
  FROM recorded
)
SELECT
  outcome,
  reason,
  stage,
  refused_table,
  counts AND (message_id IS NULL OR record_of_message = 1) AS is_input,
  message_id,
  event_id,
  publish_time,
  recorded_at
FROM ranked
