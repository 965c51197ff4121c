-- Signal 3: video_trending(video_id, score, events, unique_users, rank, as_of)
--
-- Contract (README, "Signals"), over de-duplicated events with event_ts in
-- (@as_of - @lookback_days, @as_of]:
--   score = SUM(decay(ts)) over all of the video's events,
--           decay(ts) = POW(0.5, seconds(@as_of - ts) / (@half_life_days * 86400))
--   rank  = 1-based by score desc, then video_id asc
-- Bot events (is_bot) count for nothing. Events of users who denied personalization do count: an
-- aggregate is not personalisation (their analytics consent let the event be stored at all).
-- Re-running one @as_of replaces that as_of's rows and nothing else; the runs older than the newest
-- @keep_runs are deleted.
-- Parameters: @as_of TIMESTAMP, @lookback_days INT64, @half_life_days FLOAT64, @keep_runs INT64.
BEGIN TRANSACTION;

DELETE FROM `${project}.${dataset}.video_trending` WHERE as_of = @as_of;

INSERT INTO `${project}.${dataset}.video_trending` (video_id, score, events, unique_users, rank, as_of)
WITH per_video AS (
  SELECT
    video_id,
    SUM(POW(0.5, TIMESTAMP_DIFF(@as_of, event_ts, MILLISECOND) / 1000 / (@half_life_days * 86400))) AS score,
    COUNT(*) AS events,
    COUNT(DISTINCT user_id) AS unique_users
  FROM `${project}.${dataset}.events_deduplicated`
  WHERE event_ts > TIMESTAMP_SUB(@as_of, INTERVAL @lookback_days DAY)
    AND event_ts <= @as_of
    AND NOT COALESCE(is_bot, FALSE)
  GROUP BY video_id
)
SELECT
  video_id,
  score,
  events,
  unique_users,
  ROW_NUMBER() OVER (ORDER BY score DESC, video_id ASC) AS rank,
  @as_of AS as_of
FROM per_video;

-- Retention: only the newest @keep_runs as_of runs stay (a backfill of an older as_of is one of them
-- only while it is among the newest).
DELETE FROM `${project}.${dataset}.video_trending`
WHERE as_of IN (
  SELECT as_of
  FROM (SELECT as_of, DENSE_RANK() OVER (ORDER BY as_of DESC) AS run FROM `${project}.${dataset}.video_trending`)
  WHERE run > @keep_runs
);

COMMIT TRANSACTION;
