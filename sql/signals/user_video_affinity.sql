-- Signal 1: user_video_affinity(user_id, video_id, score, clicks, pauses, max_watch_ratio,
--                                last_event_ts, as_of)
--
-- Contract (README, "Signals"), over de-duplicated events with event_ts in
-- (@as_of - @lookback_days, @as_of]:
--   decay(ts)      = POW(0.5, seconds(@as_of - ts) / (@half_life_days * 86400))
--   clicks_decayed = SUM(decay(ts)) over the user's ThumbnailClicked events for the video
--   watch          = MAX(LEAST(position_ms / duration_ms, 1.0) * decay(ts)) over the user's
--                    VideoPaused events for the video; duration from the event, else the
--                    catalog; a pause with no known duration contributes nothing
--   score          = 1.0 * clicks_decayed + 2.0 * watch; rows with score > 0 only
-- Privacy (docs/warehouse.md): bot events (is_bot) count for nothing; a user whose latest consent
-- decision up to @as_of denies personalization gets no row at all. The latest decision is the latest of
-- the user's stored events (consent_personalization = FALSE denies; NULL, an event without a consent
-- record, does not) and their `filtered` rows with reason consent_denied (a denial). The latest event
-- is in the window whenever the user has one there.
-- Re-running one @as_of replaces that as_of's rows and nothing else; the runs older than the newest
-- @keep_runs are deleted.
-- Parameters: @as_of TIMESTAMP, @lookback_days INT64, @half_life_days FLOAT64, @keep_runs INT64.
-- Statements end with ";" at the end of a line: the local runner executes them one by one
-- (the BigQuery stand-in cannot bind parameters in multi-statement scripts); BigQuery runs
-- the file as one script, inside the transaction.
BEGIN TRANSACTION;

DELETE FROM `${project}.${dataset}.user_video_affinity` WHERE as_of = @as_of;

INSERT INTO `${project}.${dataset}.user_video_affinity`
  (user_id, video_id, score, clicks, pauses, max_watch_ratio, last_event_ts, as_of)
WITH catalog AS (
  SELECT video_id, duration_ms
  FROM (
    SELECT video_id, duration_ms, ROW_NUMBER() OVER (PARTITION BY video_id ORDER BY updated_at DESC) AS version
    FROM `${project}.${dataset}.video_catalog`
  )
  WHERE version = 1
),
windowed AS (
  SELECT
    e.user_id,
    e.video_id,
    e.event_type,
    e.event_ts,
    e.processed_at,
    e.consent_personalization,
    e.position_ms,
    COALESCE(e.video_duration_ms, c.duration_ms) AS duration_ms,
    POW(0.5, TIMESTAMP_DIFF(@as_of, e.event_ts, MILLISECOND) / 1000 / (@half_life_days * 86400)) AS decay
  FROM `${project}.${dataset}.events_deduplicated` AS e
  LEFT JOIN catalog AS c ON c.video_id = e.video_id
  WHERE e.event_ts > TIMESTAMP_SUB(@as_of, INTERVAL @lookback_days DAY)
    AND e.event_ts <= @as_of
    AND NOT COALESCE(e.is_bot, FALSE)
),
decisions AS (
  -- A person's consent decisions up to @as_of: each stored event's, and each refusal the pipeline
  -- filtered (consent_denied: analytics denied, which denies personalization too). Once a person
  -- denies analytics their new events are not stored, only filtered rows record them, so the
  -- stored events alone would keep saying "granted". A filtered row has no event time: its
  -- publish_time stands for it.
  SELECT user_id, consent_personalization, event_ts AS decided_at, processed_at AS recorded_at
  FROM windowed
  UNION ALL
  SELECT user_id, FALSE AS consent_personalization, publish_time AS decided_at, filtered_at AS recorded_at
  FROM `${project}.${dataset}.filtered`
  WHERE reason = 'consent_denied' AND user_id IS NOT NULL AND publish_time <= @as_of
),
personalization_denied AS (
  SELECT user_id
  FROM (
    SELECT
      user_id,
      consent_personalization,
      ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY decided_at DESC, recorded_at DESC) AS recency
    FROM decisions
  )
  WHERE recency = 1 AND consent_personalization = FALSE
),
per_pair AS (
  SELECT
    user_id,
    video_id,
    SUM(IF(event_type = 'ThumbnailClicked', decay, 0)) AS clicks_decayed,
    MAX(IF(event_type = 'VideoPaused' AND duration_ms > 0, LEAST(position_ms / duration_ms, 1.0) * decay, NULL)) AS watch,
    COUNTIF(event_type = 'ThumbnailClicked') AS clicks,
    COUNTIF(event_type = 'VideoPaused') AS pauses,
    MAX(IF(event_type = 'VideoPaused' AND duration_ms > 0, LEAST(position_ms / duration_ms, 1.0), NULL)) AS max_watch_ratio,
    MAX(event_ts) AS last_event_ts
  FROM windowed
  WHERE user_id NOT IN (SELECT user_id FROM personalization_denied)
  GROUP BY user_id, video_id
)
SELECT
  user_id,
  video_id,
  1.0 * clicks_decayed + 2.0 * COALESCE(watch, 0) AS score,
  clicks,
  pauses,
  max_watch_ratio,
  last_event_ts,
  @as_of AS as_of
FROM per_pair
WHERE 1.0 * clicks_decayed + 2.0 * COALESCE(watch, 0) > 0;

-- Retention: only the newest @keep_runs as_of runs stay (a backfill of an older as_of is one of them
-- only while it is among the newest).
DELETE FROM `${project}.${dataset}.user_video_affinity`
WHERE as_of IN (
  SELECT as_of
  FROM (SELECT as_of, DENSE_RANK() OVER (ORDER BY as_of DESC) AS run FROM `${project}.${dataset}.user_video_affinity`)
  WHERE run > @keep_runs
);

COMMIT TRANSACTION;
